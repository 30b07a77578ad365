"""erasures: who asked to erase a resident or household, and what each service removed

Revision ID: e7a3b1c9d2f4
Revises: a0d17de7a111
Create Date: 2026-12-02 14:20:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from linli_shared.db import UtcDateTime


revision: str = 'e7a3b1c9d2f4'
down_revision: str | None = 'a0d17de7a111'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("household_id", sa.Uuid(), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("removed", sa.JSON(), nullable=False),
        sa.Column("completed_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_erasures_household_id", "erasures", ["household_id"])


def downgrade() -> None:
    op.drop_index("ix_erasures_household_id", table_name="erasures")
    op.drop_table("erasures")
