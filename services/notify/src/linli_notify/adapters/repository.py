from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_notify.adapters.tables import deliveries, notices, recipients
from linli_notify.domain.notice import Notice, NoticeStatus, NoticeType, Recipient


@dataclass(frozen=True)
class Delivery:
    channel: str
    address: str
    status: str
    response: str | None
    attempted_at: datetime


class NoticeRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def upsert_recipient(self, recipient: Recipient) -> None:
        values = {
            "name": recipient.name,
            "email": recipient.email,
            "address": recipient.address,
            "locale": recipient.locale,
        }
        updated = await self._connection.execute(
            update(recipients).where(recipients.c.id == recipient.id).values(**values)
        )
        if updated.rowcount == 0:
            await self._connection.execute(insert(recipients).values(id=recipient.id, **values))

    async def recipient(self, recipient_id: uuid.UUID) -> Recipient | None:
        row = (
            await self._connection.execute(
                select(recipients).where(recipients.c.id == recipient_id)
            )
        ).one_or_none()
        if row is None:
            return None
        return Recipient(
            id=row.id, name=row.name, email=row.email, address=row.address, locale=row.locale
        )

    async def exists(
        self, source_event_id: str, notice_type: NoticeType, recipient_id: uuid.UUID
    ) -> bool:
        found = await self._connection.scalar(
            select(notices.c.id).where(
                notices.c.source_event_id == source_event_id,
                notices.c.notice_type == notice_type.value,
                notices.c.recipient_id == recipient_id,
            )
        )
        return found is not None

    async def add(self, notice: Notice) -> None:
        await self._connection.execute(
            insert(notices).values(
                id=notice.id,
                recipient_id=notice.recipient_id,
                notice_type=notice.notice_type.value,
                source_event_id=notice.source_event_id,
                correlation_id=notice.correlation_id,
                traceparent=notice.traceparent,
                variables=notice.variables,
                status=notice.status.value,
                attempts=notice.attempts,
                created_at=notice.created_at,
                next_attempt_at=notice.created_at,
            )
        )

    async def next_deliverable(
        self, now: datetime, skip_locked: bool
    ) -> tuple[Notice, Recipient] | None:
        """The oldest due pending notice whose recipient is known, locked for this dispatcher."""
        query = (
            select(notices)
            .join(recipients, recipients.c.id == notices.c.recipient_id)
            .where(notices.c.status == NoticeStatus.PENDING.value, notices.c.next_attempt_at <= now)
            .order_by(notices.c.created_at)
            .limit(1)
            .with_for_update(skip_locked=skip_locked, of=notices)
        )
        row = (await self._connection.execute(query)).mappings().one_or_none()
        if row is None:
            return None
        recipient = await self.recipient(row["recipient_id"])
        assert recipient is not None
        return _notice(row), recipient

    async def record_attempt(
        self, notice: Notice, delivery: Delivery, status: NoticeStatus, next_attempt_at: datetime
    ) -> None:
        await self._connection.execute(
            insert(deliveries).values(
                notice_id=notice.id,
                channel=delivery.channel,
                address=delivery.address,
                status=delivery.status,
                response=delivery.response,
                attempted_at=delivery.attempted_at,
            )
        )
        await self._connection.execute(
            update(notices)
            .where(notices.c.id == notice.id)
            .values(
                status=status.value,
                attempts=notices.c.attempts + 1,
                next_attempt_at=next_attempt_at,
                delivered_at=delivery.attempted_at if status == NoticeStatus.DELIVERED else None,
            )
        )

    async def list_for(self, recipient_id: uuid.UUID, limit: int, offset: int) -> list[Notice]:
        rows = await self._connection.execute(
            select(notices)
            .where(notices.c.recipient_id == recipient_id)
            .order_by(notices.c.created_at, notices.c.id)
            .limit(limit)
            .offset(offset)
        )
        return [_notice(row) for row in rows.mappings()]

    async def get(self, notice_id: uuid.UUID) -> Notice | None:
        row = (
            (await self._connection.execute(select(notices).where(notices.c.id == notice_id)))
            .mappings()
            .one_or_none()
        )
        return _notice(row) if row is not None else None

    async def deliveries_of(self, notice_id: uuid.UUID) -> list[Delivery]:
        rows = await self._connection.execute(
            select(deliveries).where(deliveries.c.notice_id == notice_id).order_by(deliveries.c.id)
        )
        return [
            Delivery(
                channel=row.channel,
                address=row.address,
                status=row.status,
                response=row.response,
                attempted_at=row.attempted_at,
            )
            for row in rows
        ]


def _notice(row: RowMapping) -> Notice:
    return Notice(
        id=row["id"],
        recipient_id=row["recipient_id"],
        notice_type=NoticeType(row["notice_type"]),
        source_event_id=row["source_event_id"],
        correlation_id=row["correlation_id"],
        traceparent=row["traceparent"],
        variables=dict(row["variables"]),
        status=NoticeStatus(row["status"]),
        attempts=row["attempts"],
        created_at=row["created_at"],
        delivered_at=row["delivered_at"],
    )
