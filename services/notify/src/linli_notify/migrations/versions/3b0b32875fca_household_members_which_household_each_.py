"""household members: which household each resident is in

Revision ID: 3b0b32875fca
Revises: d2e5f8a1b3c7
Create Date: 2026-12-02 10:03:02.442425
"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa


revision: str = '3b0b32875fca'
down_revision: str | None = 'd2e5f8a1b3c7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Only adds a table: running versions never read it, so it rolls out before the code does.
    op.create_table(
        'household_members',
        sa.Column('resident_id', sa.Uuid(), nullable=False),
        sa.Column('household_id', sa.Uuid(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('resident_id'),
    )
    op.create_index(
        'ix_household_members_household_id', 'household_members', ['household_id'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_household_members_household_id', table_name='household_members')
    op.drop_table('household_members')
