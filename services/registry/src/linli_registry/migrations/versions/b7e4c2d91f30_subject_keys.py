"""subject keys: a key per household, resident and organisation (crypto-shredding)

Revision ID: b7e4c2d91f30
Revises: e7a3c9d1f501
Create Date: 2026-12-02 14:20:00.000000
"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa


revision: str = 'b7e4c2d91f30'
down_revision: str | None = 'e7a3c9d1f501'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'subject_keys',
        sa.Column('subject_id', sa.Uuid(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('key_enc', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('destroyed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('subject_id'),
    )


def downgrade() -> None:
    op.drop_table('subject_keys')
