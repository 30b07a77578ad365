"""reinspection schedule: the pending re-inspection of a rectification case

Revision ID: d4b8e1f0a913
Revises: a0d17de7a112
Create Date: 2026-12-02 08:10:00.000000
"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa


revision: str = 'd4b8e1f0a913'
down_revision: str | None = 'a0d17de7a112'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain nullable ADD COLUMNs: no table copy on SQLite, existing cases have none scheduled.
    op.add_column('rectifications', sa.Column('reinspection_scheduled_for', sa.DateTime(timezone=True), nullable=True))
    op.add_column('rectifications', sa.Column('reinspection_scheduled_by', sa.String(length=200), nullable=True))
    op.add_column('rectifications', sa.Column('reinspection_scheduled_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('rectifications', sa.Column('reinspection_inspector_id', sa.String(length=200), nullable=True))
    op.add_column('rectifications', sa.Column('reinspection_note', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rectifications', schema=None) as batch_op:
        batch_op.drop_column('reinspection_note')
        batch_op.drop_column('reinspection_inspector_id')
        batch_op.drop_column('reinspection_scheduled_at')
        batch_op.drop_column('reinspection_scheduled_by')
        batch_op.drop_column('reinspection_scheduled_for')
