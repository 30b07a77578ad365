from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_notify.adapters.tables import (
    deliveries,
    household_members,
    notices,
    recipients,
    webhook_attempts,
    webhook_endpoints,
    webhook_messages,
)
from linli_notify.domain.delivery import Delivery, WebhookAttempt, WebhookMessage
from linli_notify.domain.notice import (
    Channel,
    Notice,
    NoticeStatus,
    NoticeType,
    QuietHours,
    Recipient,
    RecipientKind,
    WebhookEndpoint,
)
from linli_shared.db import insert_ignoring_conflicts
from linli_shared.memberships import HouseholdMembers
from linli_shared.metrics import DELIVERIES
from linli_shared.pagination import PageRequest, Slice


@dataclass(frozen=True)
class Added:
    """What adding a notice did."""

    made: bool  # False: made before, or (announced) its recipient is unknown
    partners: bool  # some partner endpoint is enabled: worth reading the endpoints


@dataclass(frozen=True)
class Attempt:
    """One finished attempt: the log row and the notice's new state."""

    delivery: Delivery
    status: NoticeStatus
    next_attempt_at: datetime
    channel_index: int
    rounds: int
    subject: str | None = None
    body: str | None = None


def _kept_unless_given(column: str) -> Any:
    stored = notices.c[column]
    return func.coalesce(bindparam(f"new_{column}", type_=stored.type), stored)


# One notice's new state after an attempt; a delivery also keeps its channel, subject and body
# (None keeps the stored value), so every attempt is the same statement and a batch is one
# executemany.
_RECORD_ATTEMPT = (
    update(notices)
    .where(notices.c.id == bindparam("notice_id"))
    .values(
        status=bindparam("new_status"),
        attempts=notices.c.attempts + 1,
        next_attempt_at=bindparam("new_next_attempt_at"),
        channel_index=bindparam("new_channel_index"),
        rounds=bindparam("new_rounds"),
        delivered_at=bindparam("new_delivered_at"),
        channel=func.coalesce(
            bindparam("new_channel", type_=notices.c.channel.type), notices.c.channel
        ),
        subject=func.coalesce(
            bindparam("new_subject", type_=notices.c.subject.type), notices.c.subject
        ),
        body=func.coalesce(bindparam("new_body", type_=notices.c.body.type), notices.c.body),
    )
)


def _moved_on(notice: Notice, attempt: Attempt) -> dict[str, Any]:
    delivered = attempt.status == NoticeStatus.DELIVERED
    return {
        "notice_id": notice.id,
        "new_status": attempt.status.value,
        "new_next_attempt_at": attempt.next_attempt_at,
        "new_channel_index": attempt.channel_index,
        "new_rounds": attempt.rounds,
        "new_delivered_at": attempt.delivery.attempted_at if delivered else None,
        "new_channel": attempt.delivery.channel if delivered else None,
        "new_subject": attempt.subject if delivered else None,
        "new_body": attempt.body if delivered else None,
    }


_NOTICE_COLUMNS = (
    "id",
    "recipient_id",
    "notice_type",
    "source_event_id",
    "correlation_id",
    "traceparent",
    "variables",
    "status",
    "attempts",
    "created_at",
    "next_attempt_at",
    "dedup_key",
    "critical",
)
# Built once per dialect and kind: building the statement and its cache key anew cost ≈ 0.25 ms
# of Python a notice.
_ADDING_NOTICE: dict[tuple[str, bool], Any] = {}


def _adding_notice(connection: AsyncConnection, announced: bool) -> Any:
    """The notice's insert (see `add_unless_made`); `announced`: only for a known recipient."""
    key = (connection.dialect.name, announced)
    if (statement := _ADDING_NOTICE.get(key)) is not None:
        return statement
    given = {name: bindparam(f"new_{name}", type_=notices.c[name].type) for name in _NOTICE_COLUMNS}
    inserting = insert_ignoring_conflicts(connection, notices)
    if announced:
        known = select(recipients.c.id).where(recipients.c.id == given["recipient_id"]).exists()
        row = select(*(value.label(name) for name, value in given.items())).where(known)
        inserting = inserting.from_select(list(given), row)
    else:
        inserting = inserting.values(given)
    partners = select(webhook_endpoints.c.id).where(webhook_endpoints.c.enabled.is_(True))
    statement = inserting.returning(notices.c.id, partners.exists().label("partners"))
    _ADDING_NOTICE[key] = statement
    return statement


# A due notice's recipient, in the notice's row (notices have a `recipient_id` of their own).
_RECIPIENT_PREFIX = "to_"
_RECIPIENT_AS = [column.label(f"{_RECIPIENT_PREFIX}{column.name}") for column in recipients.c]

_ENDPOINTS_IN_ORDER = select(webhook_endpoints).order_by(
    webhook_endpoints.c.created_at, webhook_endpoints.c.id
)


class NoticeRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    # --- recipients ------------------------------------------------------------------------------

    async def upsert_recipient(self, recipient: Recipient) -> None:
        """Insert or update what the registry (or staff, for grid workers) says; keep prefs."""
        values: dict[str, Any] = {
            "name": recipient.name,
            "email": recipient.email,
            "address": recipient.address,
            "locale": recipient.locale,
            "kind": recipient.kind.value,
            "phone": recipient.phone,
            "preferred_channels": [c.value for c in recipient.preferred_channels],
            "consented_channels": (
                [c.value for c in recipient.consented_channels]
                if recipient.consented_channels is not None
                else None
            ),
            "active": recipient.active,
            "grid_id": recipient.grid_id,
        }
        updated = await self._connection.execute(
            update(recipients).where(recipients.c.id == recipient.id).values(**values)
        )
        if updated.rowcount == 0:
            await self._connection.execute(insert(recipients).values(id=recipient.id, **values))

    async def update_recipient(self, recipient_id: uuid.UUID, **values: Any) -> bool:
        updated = await self._connection.execute(
            update(recipients).where(recipients.c.id == recipient_id).values(**values)
        )
        return bool(updated.rowcount)

    async def household_of(self, resident_id: uuid.UUID) -> uuid.UUID | None:
        return await HouseholdMembers(self._connection, household_members).household_of(resident_id)

    async def put_members(
        self, household_id: uuid.UUID, resident_ids: Sequence[uuid.UUID], version: int
    ) -> bool:
        """See `linli_shared.memberships`."""
        members = HouseholdMembers(self._connection, household_members)
        return await members.put(household_id, resident_ids, version)

    async def recipient(self, recipient_id: uuid.UUID) -> Recipient | None:
        row = (
            (
                await self._connection.execute(
                    select(recipients).where(recipients.c.id == recipient_id)
                )
            )
            .mappings()
            .one_or_none()
        )
        return _recipient(row) if row is not None else None

    async def grid_contacts(self, page: PageRequest) -> Slice[Recipient]:
        """Grid workers' contacts, by grid (each recipient's `grid_id` is its grid)."""
        conditions = (
            recipients.c.kind == RecipientKind.GRID_WORKER.value,
            recipients.c.grid_id.is_not(None),
            recipients.c.active.is_(True),
        )
        total = await self._count(select(func.count()).select_from(recipients).where(*conditions))
        rows = await self._connection.execute(
            select(recipients)
            .where(*conditions)
            .order_by(recipients.c.grid_id)
            .limit(page.limit)
            .offset(page.offset)
        )
        return Slice([_recipient(row) for row in rows.mappings()], total, page)

    async def _count(self, query: Select[int]) -> int:
        return int(await self._connection.scalar(query) or 0)

    async def remove_grid_contact(self, grid_id: str) -> bool:
        """The contact stops being told; its notices stay visible to the grid's workers."""
        removed = await self._connection.execute(
            update(recipients)
            .where(
                recipients.c.grid_id == grid_id,
                recipients.c.kind == RecipientKind.GRID_WORKER.value,
                recipients.c.active.is_(True),
            )
            .values(active=False)
        )
        return bool(removed.rowcount)

    # --- notices ---------------------------------------------------------------------------------

    async def add_unless_made(self, notice: Notice, *, announced: bool) -> Added:
        """Insert the notice unless its recipient already has one of its type from the same
        cause (dedup key) or the same event, or (`announced`) notify does not know the recipient.
        One statement: the unique constraints decide (a racing insert waits for the other's
        commit), and it says whether any partner endpoint is enabled, so a notice no partner
        can take reads no endpoints."""
        added = await self._connection.execute(
            _adding_notice(self._connection, announced),
            {
                "new_id": notice.id,
                "new_recipient_id": notice.recipient_id,
                "new_notice_type": notice.notice_type.value,
                "new_source_event_id": notice.source_event_id,
                "new_correlation_id": notice.correlation_id,
                "new_traceparent": notice.traceparent,
                "new_variables": notice.variables,
                "new_status": notice.status.value,
                "new_attempts": notice.attempts,
                "new_created_at": notice.created_at,
                "new_next_attempt_at": notice.created_at,
                "new_dedup_key": notice.dedup_key,
                "new_critical": notice.critical,
            },
        )
        made = added.one_or_none()
        return Added(made=made is not None, partners=bool(made is not None and made.partners))

    async def made_before(self, notice: Notice) -> bool:
        """Whether the recipient has a notice of this type from the same cause or event (what
        keeps `add_unless_made` from making it again)."""
        found = await self._connection.scalar(
            select(notices.c.id)
            .where(
                notices.c.recipient_id == notice.recipient_id,
                notices.c.notice_type == notice.notice_type.value,
                or_(
                    notices.c.dedup_key == notice.dedup_key,
                    notices.c.source_event_id == notice.source_event_id,
                ),
            )
            .limit(1)
        )
        return found is not None

    async def due(
        self, now: datetime, limit: int, skip_locked: bool
    ) -> list[tuple[Notice, Recipient]]:
        """Up to `limit` due pending notices whose recipient is known, oldest first, locked for
        this dispatcher, each with its recipient (one statement, whatever `limit` is)."""
        query = (
            select(notices, *_RECIPIENT_AS)
            .join(recipients, recipients.c.id == notices.c.recipient_id)
            .where(notices.c.status == NoticeStatus.PENDING.value, notices.c.next_attempt_at <= now)
            .order_by(notices.c.next_attempt_at, notices.c.created_at)
            .limit(limit)
            .with_for_update(skip_locked=skip_locked, of=notices)
        )
        rows = (await self._connection.execute(query)).mappings()
        return [(_notice(row), _recipient(row, _RECIPIENT_PREFIX)) for row in rows]

    async def due_digest(
        self, recipient_id: uuid.UUID, now: datetime, skip_locked: bool
    ) -> list[Notice]:
        """Every held notice of this recipient whose digest time has come, locked."""
        rows = await self._connection.execute(
            select(notices)
            .where(
                notices.c.recipient_id == recipient_id,
                notices.c.status == NoticeStatus.PENDING.value,
                notices.c.digest.is_(True),
                notices.c.next_attempt_at <= now,
            )
            .order_by(notices.c.created_at, notices.c.id)
            .with_for_update(skip_locked=skip_locked)
        )
        return [_notice(row) for row in rows.mappings()]

    async def hold(self, notice: Notice, until: datetime, *, digest: bool) -> None:
        """Wait until `until` (quiet hours or digest) without counting an attempt."""
        await self._connection.execute(
            update(notices)
            .where(notices.c.id == notice.id)
            .values(next_attempt_at=until, digest=digest)
        )

    async def release_held(self, recipient_id: uuid.UUID, now: datetime) -> None:
        """The recipient left the digest: what was held for it goes as ordinary notices now."""
        await self._connection.execute(
            update(notices)
            .where(
                notices.c.recipient_id == recipient_id,
                notices.c.status == NoticeStatus.PENDING.value,
                notices.c.digest.is_(True),
            )
            .values(digest=False, next_attempt_at=now)
        )

    async def record_attempts(self, attempts: Sequence[tuple[Notice, Attempt]]) -> None:
        """Log each attempt and move its notice on: two statements for any number (each an
        executemany, one round trip)."""
        if not attempts:
            return
        for _, attempt in attempts:
            DELIVERIES.labels(attempt.delivery.channel, attempt.delivery.status).inc()
        await self._connection.execute(
            insert(deliveries),
            [
                {
                    "notice_id": notice.id,
                    "channel": attempt.delivery.channel,
                    "address": attempt.delivery.address,
                    "status": attempt.delivery.status,
                    "response": attempt.delivery.response,
                    "attempted_at": attempt.delivery.attempted_at,
                }
                for notice, attempt in attempts
            ],
        )
        await self._connection.execute(_RECORD_ATTEMPT, [_moved_on(n, a) for n, a in attempts])

    async def fail(self, notice: Notice, reason: str, now: datetime) -> None:
        """Give up without an attempt (nobody to send to)."""
        await self._connection.execute(
            insert(deliveries).values(
                notice_id=notice.id,
                channel="none",
                address="",
                status="failed",
                response=reason,
                attempted_at=now,
            )
        )
        await self._connection.execute(
            update(notices)
            .where(notices.c.id == notice.id)
            .values(status=NoticeStatus.FAILED.value, next_attempt_at=now)
        )

    async def list_for(
        self,
        recipient_id: uuid.UUID,
        page: PageRequest,
        *,
        inbox: bool = False,
        unread: bool = False,
    ) -> Slice[Notice]:
        conditions = [notices.c.recipient_id == recipient_id]
        if inbox:
            conditions.append(notices.c.status == NoticeStatus.DELIVERED.value)
            order = [notices.c.delivered_at.desc(), notices.c.id]
        else:
            order = [notices.c.created_at, notices.c.id]
        if unread:
            conditions.append(notices.c.read_at.is_(None))
        total = await self._count(select(func.count()).select_from(notices).where(*conditions))
        rows = await self._connection.execute(
            select(notices)
            .where(*conditions)
            .order_by(*order)
            .limit(page.limit)
            .offset(page.offset)
        )
        return Slice([_notice(row) for row in rows.mappings()], total, page)

    async def count_unread(self, recipient_id: uuid.UUID) -> int:
        count = await self._connection.scalar(
            select(func.count())
            .select_from(notices)
            .where(
                notices.c.recipient_id == recipient_id,
                notices.c.status == NoticeStatus.DELIVERED.value,
                notices.c.read_at.is_(None),
            )
        )
        return int(count or 0)

    async def mark_read(self, notice_id: uuid.UUID, at: datetime | None) -> None:
        await self._connection.execute(
            update(notices).where(notices.c.id == notice_id).values(read_at=at)
        )

    async def get(self, notice_id: uuid.UUID) -> Notice | None:
        row = (
            (await self._connection.execute(select(notices).where(notices.c.id == notice_id)))
            .mappings()
            .one_or_none()
        )
        return _notice(row) if row is not None else None

    async def content(self, notice_id: uuid.UUID) -> tuple[str | None, str | None]:
        row = (
            await self._connection.execute(
                select(notices.c.subject, notices.c.body).where(notices.c.id == notice_id)
            )
        ).one()
        return row.subject, row.body

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

    # --- partner webhooks ------------------------------------------------------------------------

    async def add_endpoint(self, endpoint: WebhookEndpoint) -> None:
        await self._connection.execute(
            insert(webhook_endpoints).values(
                id=endpoint.id,
                name=endpoint.name,
                url=endpoint.url,
                secrets=list(endpoint.secrets),
                notice_types=[t.value for t in endpoint.notice_types],
                department=endpoint.department,
                enabled=endpoint.enabled,
                consecutive_failures=endpoint.consecutive_failures,
                disabled_reason=endpoint.disabled_reason,
                created_at=endpoint.created_at,
            )
        )

    async def update_endpoint(self, endpoint_id: uuid.UUID, **values: Any) -> None:
        await self._connection.execute(
            update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id).values(**values)
        )

    async def endpoint(
        self, endpoint_id: uuid.UUID, *, lock: bool = False
    ) -> WebhookEndpoint | None:
        query = select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        if lock:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).mappings().one_or_none()
        return _endpoint(row) if row is not None else None

    async def endpoints(self) -> list[WebhookEndpoint]:
        rows = await self._connection.execute(_ENDPOINTS_IN_ORDER)
        return [_endpoint(row) for row in rows.mappings()]

    async def endpoint_page(self, page: PageRequest) -> Slice[WebhookEndpoint]:
        total = await self._count(select(func.count()).select_from(webhook_endpoints))
        rows = await self._connection.execute(
            _ENDPOINTS_IN_ORDER.limit(page.limit).offset(page.offset)
        )
        return Slice([_endpoint(row) for row in rows.mappings()], total, page)

    async def add_messages(self, messages: Sequence[WebhookMessage]) -> None:
        """Queue the messages, each unless its endpoint already has the same one (same dedup
        key): one statement for any number (an executemany)."""
        if not messages:
            return
        await self._connection.execute(
            insert_ignoring_conflicts(self._connection, webhook_messages),
            [
                {
                    "id": message.id,
                    "endpoint_id": message.endpoint_id,
                    "notice_type": message.notice_type,
                    "dedup_key": message.dedup_key,
                    "payload": message.payload,
                    "status": message.status,
                    "attempts": message.attempts,
                    "created_at": message.created_at,
                    "next_attempt_at": message.next_attempt_at,
                }
                for message in messages
            ],
        )

    async def next_webhook(
        self, now: datetime, skip_locked: bool
    ) -> tuple[WebhookMessage, WebhookEndpoint] | None:
        """The oldest due pending message of an enabled endpoint, locked for this dispatcher."""
        query = (
            select(webhook_messages)
            .join(
                webhook_endpoints,
                and_(
                    webhook_endpoints.c.id == webhook_messages.c.endpoint_id,
                    webhook_endpoints.c.enabled.is_(True),
                ),
            )
            .where(
                webhook_messages.c.status == NoticeStatus.PENDING.value,
                webhook_messages.c.next_attempt_at <= now,
            )
            .order_by(webhook_messages.c.next_attempt_at, webhook_messages.c.created_at)
            .limit(1)
            .with_for_update(skip_locked=skip_locked, of=webhook_messages)
        )
        row = (await self._connection.execute(query)).mappings().one_or_none()
        if row is None:
            return None
        endpoint = await self.endpoint(row["endpoint_id"], lock=True)
        if endpoint is None:  # joined above, in this transaction: only a concurrent delete
            return None
        return _message(row), endpoint

    async def record_webhook_attempt(
        self,
        message: WebhookMessage,
        attempt: WebhookAttempt,
        status: str,
        next_attempt_at: datetime,
    ) -> None:
        await self._connection.execute(
            insert(webhook_attempts).values(
                message_id=message.id,
                status=attempt.status,
                status_code=attempt.status_code,
                response=attempt.response,
                attempted_at=attempt.attempted_at,
            )
        )
        await self._connection.execute(
            update(webhook_messages)
            .where(webhook_messages.c.id == message.id)
            .values(
                status=status,
                attempts=webhook_messages.c.attempts + 1,
                next_attempt_at=next_attempt_at,
                delivered_at=attempt.attempted_at if status == "delivered" else None,
            )
        )

    async def messages_of(self, endpoint_id: uuid.UUID, page: PageRequest) -> Slice[WebhookMessage]:
        mine = webhook_messages.c.endpoint_id == endpoint_id
        total = await self._count(select(func.count()).select_from(webhook_messages).where(mine))
        rows = await self._connection.execute(
            select(webhook_messages)
            .where(mine)
            .order_by(webhook_messages.c.created_at, webhook_messages.c.id)
            .limit(page.limit)
            .offset(page.offset)
        )
        return Slice([_message(row) for row in rows.mappings()], total, page)

    async def webhook_attempts_of(self, message_id: str) -> list[WebhookAttempt]:
        rows = await self._connection.execute(
            select(webhook_attempts)
            .where(webhook_attempts.c.message_id == message_id)
            .order_by(webhook_attempts.c.id)
        )
        return [
            WebhookAttempt(
                status=row.status,
                status_code=row.status_code,
                response=row.response,
                attempted_at=row.attempted_at,
            )
            for row in rows
        ]

    async def delete_endpoint_messages(self, endpoint_id: uuid.UUID) -> None:
        ids = select(webhook_messages.c.id).where(webhook_messages.c.endpoint_id == endpoint_id)
        await self._connection.execute(
            delete(webhook_attempts).where(webhook_attempts.c.message_id.in_(ids))
        )
        await self._connection.execute(
            delete(webhook_messages).where(webhook_messages.c.endpoint_id == endpoint_id)
        )


def _channels(raw: Sequence[str] | None) -> tuple[Channel, ...] | None:
    if raw is None:
        return None
    return tuple(Channel(value) for value in raw if value in Channel.__members__.values())


def _time(raw: str | None) -> time | None:
    return time.fromisoformat(raw) if raw else None


def _recipient(row: RowMapping, prefix: str = "") -> Recipient:
    def value(column: str) -> Any:
        return row[prefix + column]

    start, end = _time(value("quiet_start")), _time(value("quiet_end"))
    return Recipient(
        id=value("id"),
        name=value("name"),
        email=value("email"),
        address=value("address"),
        locale=value("locale"),
        kind=RecipientKind(value("kind")),
        phone=value("phone"),
        preferred_channels=_channels(value("preferred_channels")) or (Channel.EMAIL,),
        consented_channels=_channels(value("consented_channels")),
        active=value("active"),
        grid_id=value("grid_id"),
        channel_order=_channels(value("channel_order")),
        quiet_hours=QuietHours(start, end) if start is not None and end is not None else None,
        digest=value("digest"),
    )


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
        dedup_key=row["dedup_key"] or f"event:{row['source_event_id']}",
        critical=row["critical"],
        channel_index=row["channel_index"],
        rounds=row["rounds"],
        digest=row["digest"],
        channel=row["channel"],
        read_at=row["read_at"],
    )


def _endpoint(row: RowMapping) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row["id"],
        name=row["name"],
        url=row["url"],
        secrets=tuple(row["secrets"]),
        notice_types=tuple(NoticeType(t) for t in row["notice_types"]),
        enabled=row["enabled"],
        consecutive_failures=row["consecutive_failures"],
        disabled_reason=row["disabled_reason"],
        department=row["department"],
        created_at=row["created_at"],
    )


def _message(row: RowMapping) -> WebhookMessage:
    return WebhookMessage(
        id=row["id"],
        endpoint_id=row["endpoint_id"],
        notice_type=row["notice_type"],
        dedup_key=row["dedup_key"],
        payload=dict(row["payload"]),
        status=row["status"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"],
        delivered_at=row["delivered_at"],
    )
