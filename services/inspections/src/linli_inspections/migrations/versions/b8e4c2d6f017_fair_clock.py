"""fair clock: a case's observed and notified times, its comply-by clock and time zone

Revision ID: b8e4c2d6f017
Revises: f5c2a9e4b716
Create Date: 2026-12-09 09:00:00.000000
"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa


revision: str = 'b8e4c2d6f017'
down_revision: str | None = 'f5c2a9e4b716'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain nullable ADD COLUMNs: no table copy on SQLite. A case opened before has no clock
    # (its deadline stands) and no notification yet.
    op.add_column('rectifications', sa.Column('observed_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('rectifications', sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('rectifications', sa.Column('comply_clock', sa.String(length=20), nullable=True))
    op.add_column('rectifications', sa.Column('time_zone', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rectifications', schema=None) as batch_op:
        batch_op.drop_column('time_zone')
        batch_op.drop_column('comply_clock')
        batch_op.drop_column('notified_at')
        batch_op.drop_column('observed_at')
