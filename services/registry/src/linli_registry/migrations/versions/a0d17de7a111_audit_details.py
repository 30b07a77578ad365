"""audit details: what a reveal was asked and what it showed

Revision ID: a0d17de7a111
Revises: c1a5e0d7b201
Create Date: 2026-12-02 01:20:00.000000
"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa


revision: str = 'a0d17de7a111'
down_revision: str | None = 'c1a5e0d7b201'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (no table copy on SQLite), so the append-only triggers stay.
    op.add_column('audit_log', sa.Column('details', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_column('details')
