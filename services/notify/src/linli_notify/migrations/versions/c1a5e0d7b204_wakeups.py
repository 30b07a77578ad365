"""wake-ups: NOTIFY when outbox rows, notices and webhook messages are inserted

Revision ID: c1a5e0d7b204
Revises: 9cac4dc7ccb4
Create Date: 2026-11-29 03:40:00.000000
"""
from collections.abc import Sequence

from alembic import op

from linli_shared.messaging.wakeup import (
    drop_notify_on_insert_statements,
    notify_on_insert_statements,
)


revision: str = 'c1a5e0d7b204'
down_revision: str | None = '9cac4dc7ccb4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The relay (and the dispatcher) listen instead of polling fast; see linli_shared.messaging.wakeup.
    dialect = op.get_bind().dialect.name
    for statement in notify_on_insert_statements(dialect, "outbox", "linli_outbox"):
        op.execute(statement)
    for table, channel in (("notices", "linli_notices"), ("webhook_messages", "linli_webhooks")):
        for statement in notify_on_insert_statements(dialect, table, channel):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in drop_notify_on_insert_statements(dialect, "outbox", "linli_outbox"):
        op.execute(statement)
    for table, channel in (("notices", "linli_notices"), ("webhook_messages", "linli_webhooks")):
        for statement in drop_notify_on_insert_statements(dialect, table, channel):
            op.execute(statement)
