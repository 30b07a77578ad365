"""evidence photos: uploaded photos, stored once under their SHA-256

Revision ID: f5c2a9e4b716
Revises: d4b8e1f0a913
Create Date: 2026-12-02 08:20:00.000000
"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa


revision: str = 'f5c2a9e4b716'
down_revision: str | None = 'd4b8e1f0a913'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Only adds a table: running versions never read it, so it rolls out before the code does.
    op.create_table(
        'evidence_photos',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('content_type', sa.String(length=50), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('bytes', sa.LargeBinary(), nullable=False),
        sa.Column('uploaded_by', sa.String(length=200), nullable=False),
        sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('sha256'),
    )
    op.create_index('ix_evidence_sha256', 'evidence', ['sha256'])


def downgrade() -> None:
    op.drop_index('ix_evidence_sha256', table_name='evidence')
    op.drop_table('evidence_photos')
