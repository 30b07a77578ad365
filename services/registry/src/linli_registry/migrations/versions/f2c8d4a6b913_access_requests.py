"""access requests: a resident's data-subject request and each service's answer (#21)

Revision ID: f2c8d4a6b913
Revises: b7e4c2d91f30
Create Date: 2026-12-02 15:00:00.000000
"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa


revision: str = 'f2c8d4a6b913'
down_revision: str | None = 'b7e4c2d91f30'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'access_requests',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('household_id', sa.Uuid(), nullable=False),
        sa.Column('resident_id', sa.Uuid(), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('requested_by', sa.String(length=200), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('private_key_enc', sa.Text(), nullable=True),
        sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(
        op.f('ix_access_requests_household_id'), 'access_requests', ['household_id']
    )
    op.create_index(
        op.f('ix_access_requests_resident_id'), 'access_requests', ['resident_id']
    )
    op.create_table(
        'access_answers',
        sa.Column('access_request_id', sa.Uuid(), nullable=False),
        sa.Column('service', sa.String(length=40), nullable=False),
        sa.Column('record_count', sa.Integer(), nullable=False),
        sa.Column('records_enc', sa.Text(), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['access_request_id'], ['access_requests.id'], ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('access_request_id', 'service'),
    )


def downgrade() -> None:
    op.drop_table('access_answers')
    op.drop_index(op.f('ix_access_requests_resident_id'), table_name='access_requests')
    op.drop_index(op.f('ix_access_requests_household_id'), table_name='access_requests')
    op.drop_table('access_requests')
