"""registry: trigram indexes for substring search (member names, addresses)

Revision ID: 5b0e3c2a9f41
Revises: 6620f1b27605
Create Date: 2026-11-29 00:40:00.000000
"""
from collections.abc import Sequence

from alembic import op


revision: str = '5b0e3c2a9f41'
down_revision: str | None = '6620f1b27605'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # pg_trgm ships with PostgreSQL (contrib) and is a trusted extension: the database owner
    # may create it. SQLite (embedded mode) gets plain indexes.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        'ix_members_name_trgm', 'members', ['name'], unique=False,
        postgresql_using='gin', postgresql_ops={'name': 'gin_trgm_ops'},
    )
    op.create_index(
        'ix_households_address_key_trgm', 'households', ['address_key'], unique=False,
        postgresql_using='gin', postgresql_ops={'address_key': 'gin_trgm_ops'},
    )


def downgrade() -> None:
    op.drop_index('ix_households_address_key_trgm', table_name='households')
    op.drop_index('ix_members_name_trgm', table_name='members')
