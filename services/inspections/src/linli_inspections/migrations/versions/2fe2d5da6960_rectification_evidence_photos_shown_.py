"""rectification evidence: photos shown with a report of a fix

Revision ID: 2fe2d5da6960
Revises: b8e4c2d6f017
Create Date: 2026-12-02 09:51:52.752248
"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa


revision: str = '2fe2d5da6960'
down_revision: str | None = 'b8e4c2d6f017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Only adds a table: running versions never read it, so it rolls out before the code does.
    op.create_table(
        'rectification_evidence',
        sa.Column('rectification_id', sa.Uuid(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('photo_ref', sa.String(length=500), nullable=False),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['rectification_id'], ['rectifications.id']),
        sa.PrimaryKeyConstraint('rectification_id', 'sha256'),
    )
    op.create_index(
        'ix_rectification_evidence_sha256', 'rectification_evidence', ['sha256'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_rectification_evidence_sha256', table_name='rectification_evidence')
    op.drop_table('rectification_evidence')
