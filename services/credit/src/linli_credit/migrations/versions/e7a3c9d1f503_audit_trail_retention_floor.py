"""audit trail: entries past the retention floor may be deleted (by the retention job)

Revision ID: e7a3c9d1f503
Revises: e7a3b1c9d2f5
Create Date: 2026-12-02 14:40:00.000000
"""
from collections.abc import Sequence

from alembic import op

from linli_shared.audit import append_only_again_statements, retention_only_statements


revision: str = 'e7a3c9d1f503'
down_revision: str | None = 'e7a3b1c9d2f5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The youngest entry anyone may delete, by the database's clock: 180 days (the Cybersecurity
# Law's six months for network logs). The retention policy's audit period is never shorter.
FLOOR_DAYS = 180


def upgrade() -> None:
    # UPDATE stays refused; DELETE is refused for every entry younger than the floor.
    for statement in retention_only_statements(op.get_bind().dialect.name, FLOOR_DAYS):
        op.execute(statement)


def downgrade() -> None:
    for statement in append_only_again_statements(op.get_bind().dialect.name):
        op.execute(statement)
