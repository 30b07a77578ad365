"""Retention: the notify's own categories of its retention policy (`policies/retention/`).

A notice row stays (its type, recipient, dates, channel and status prove that it was sent and
keep a replayed event from making it again); past its period, what it said goes: the rendered
subject and text and the values it was made from. Delivery attempts, with the addresses they
went to, and partner webhook messages with their attempts are deleted. Nothing still pending
is touched.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Text, and_, cast, or_, select, update

from linli_notify.adapters import tables
from linli_notify.domain.notice import NoticeStatus
from linli_shared.db import Database
from linli_shared.retention import Sweep, delete_in_batches

SHIPPED_POLICIES = Path(__file__).resolve().parent.parent / "policies" / "retention"

NOTICE_BODIES = "notice_bodies"
DELIVERY_LOGS = "delivery_logs"
WEBHOOK_MESSAGES = "webhook_messages"


class RetentionUseCases:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def forget_notice_bodies(self, before: datetime, batch_size: int) -> int:
        """Remove what notices created before `before` said, once they are delivered or
        failed; returns how many notices were emptied."""
        notices = tables.notices
        said = and_(
            notices.c.status != NoticeStatus.PENDING.value,
            notices.c.created_at < before,
            or_(
                notices.c.subject.is_not(None),
                notices.c.body.is_not(None),
                cast(notices.c.variables, Text) != "{}",
            ),
        )
        emptied = 0
        while True:
            batch = select(notices.c.id).where(said).limit(batch_size)
            async with self._database.transaction() as connection:
                result = await connection.execute(
                    update(notices)
                    .where(notices.c.id.in_(batch))
                    .values(subject=None, body=None, variables={})
                )
            emptied += result.rowcount
            if result.rowcount < batch_size:
                return emptied

    async def forget_delivery_logs(self, before: datetime, batch_size: int) -> int:
        """Delete the delivery attempts made before `before`."""
        deliveries = tables.deliveries
        return await delete_in_batches(
            self._database, deliveries, ["id"], deliveries.c.attempted_at < before, batch_size
        )

    async def forget_webhook_messages(self, before: datetime, batch_size: int) -> int:
        """Delete the partner messages created before `before` that are delivered or failed,
        with their attempts; returns how many messages and attempts went."""
        messages, attempts = tables.webhook_messages, tables.webhook_attempts
        done = select(messages.c.id).where(
            messages.c.status != NoticeStatus.PENDING.value, messages.c.created_at < before
        )
        gone = await delete_in_batches(
            self._database, attempts, ["id"], attempts.c.message_id.in_(done), batch_size
        )
        unattempted = and_(
            messages.c.id.in_(done),
            ~select(attempts.c.id).where(attempts.c.message_id == messages.c.id).exists(),
        )
        return gone + await delete_in_batches(
            self._database, messages, ["id"], unattempted, batch_size
        )

    def sweeps(self) -> dict[str, Sweep]:
        return {
            NOTICE_BODIES: self.forget_notice_bodies,
            DELIVERY_LOGS: self.forget_delivery_logs,
            WEBHOOK_MESSAGES: self.forget_webhook_messages,
        }
