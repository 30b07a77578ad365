"""Transactional outbox: events are written in the use case's transaction and relayed afterwards.

A crash between commit and publish loses nothing (the row waits); a crash between publish and
marking the row sent publishes it again, which consumers absorb through their inbox.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from opentelemetry.trace import Span, SpanKind
from sqlalchemy import (
    Column,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_shared.aio import sleep_or_stop
from linli_shared.context import EventContext, current_context
from linli_shared.contracts.base import EventData
from linli_shared.db import BigIntegerPK, Database, UtcDateTime, insert_before_commit
from linli_shared.messaging.envelope import CONTENT_TYPE, Envelope
from linli_shared.messaging.records import OutgoingRecord
from linli_shared.messaging.wakeup import Wakeup
from linli_shared.metrics import EVENTS_PUBLISHED
from linli_shared.telemetry import current_traceparent, start_child_span, traceparent_of

log = logging.getLogger(__name__)

LEASE_SECONDS = 60
_LEASE = text(f"SET LOCAL idle_in_transaction_session_timeout = '{LEASE_SECONDS}s'")
# Every service's migrations add a trigger that NOTIFYs this channel when outbox rows commit.
OUTBOX_CHANNEL = "linli_outbox"


def _publish_span(payload: bytes) -> Span:
    """The relay's hop, in the trace of the request that wrote the event."""
    try:
        event = json.loads(payload)
        traceparent, name = event.get("traceparent"), f"publish {event.get('type')}"
    except ValueError:
        traceparent, name = None, "publish"
    return start_child_span(name, traceparent, SpanKind.PRODUCER)


def _headers(span: Span) -> dict[str, bytes]:
    headers = {"content-type": CONTENT_TYPE.encode()}
    traceparent = traceparent_of(span)
    if traceparent:
        headers["traceparent"] = traceparent.encode()  # W3C trace context on the Kafka hop
    return headers


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("seq", BigIntegerPK, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("partition_key", String(200), nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("published_at", UtcDateTime(), nullable=True),
        Index("ix_outbox_unpublished", "published_at", "seq"),
    )


OutboxRow = dict[str, object]


class Outbox:
    """What use cases call to emit an event inside their own transaction."""

    def __init__(self, table: Table, source: str) -> None:
        self._table = table
        self._source = source

    async def add(self, connection: AsyncConnection, *events: EventData) -> None:
        """Queue the events, in this order, in the caller's transaction (one round trip)."""
        await self.write(connection, self.prepare(*events))

    def prepare(self, *events: EventData) -> list[OutboxRow]:
        """The events' rows, enveloped now, under the running story's context (correlation,
        causation, trace): a caller handling several stories in one transaction prepares each
        under its own context and writes them together (`write`)."""
        context, traceparent = current_context(), current_traceparent()
        rows: list[OutboxRow] = []
        for event in events:
            # Partners see none of the story's ids (a caller's correlation id, internal event
            # ids, our traces): each partner event gets a correlation id of its own.
            envelope = (
                Envelope.wrap(event, source=self._source, context=_for_partners())
                if event.partner_readable
                else Envelope.wrap(
                    event, source=self._source, context=context, traceparent=traceparent
                )
            )
            rows.append(
                {
                    "event_id": envelope.id,
                    "topic": event.topic,
                    "partition_key": envelope.partition_key,
                    "event_type": envelope.type,
                    "payload": envelope.to_json(),
                    "created_at": envelope.time,
                }
            )
        return rows

    async def write(self, connection: AsyncConnection, rows: Sequence[OutboxRow]) -> None:
        """Insert prepared rows in the caller's transaction, in the given order: just before it
        commits, with every other event it emits, when it is a `Database.transaction`."""
        if rows and not insert_before_commit(connection, self._table, rows):
            # An executemany: one compiled (cached) statement, rows inserted in the given order.
            await connection.execute(insert(self._table), list(rows))

    async def forget_published(self, connection: AsyncConnection, partition_keys: list[str]) -> int:
        """Delete the published events of these partition keys (an erasure: those already out
        are kept here no longer; those not yet published still go out first). How many went."""
        result = await connection.execute(
            delete(self._table).where(
                self._table.c.partition_key.in_(partition_keys),
                self._table.c.published_at.is_not(None),
            )
        )
        return int(result.rowcount or 0)


def _for_partners() -> EventContext:
    return EventContext(correlation_id=str(uuid.uuid4()))


class RecordSink(Protocol):
    async def send(self, records: Sequence[OutgoingRecord]) -> None:
        """Write the records durably, in the given order per key; return when acknowledged."""


class OutboxRelay:
    """Publishes outbox rows in commit order.

    The batch is selected `FOR UPDATE` and published while the row locks are held, so a second
    relay replica waits rather than racing: rows leave in sequence order, per key and overall.
    """

    def __init__(
        self,
        database: Database,
        table: Table,
        sink: RecordSink,
        *,
        batch_size: int = 500,
        poll_interval: float = 0.1,
        service: str = "",
        wakeup: Wakeup | None = None,
    ) -> None:
        self._service = service
        self._database = database
        self._table = table
        self._sink = sink
        self._batch_size = batch_size
        # Built once, executed with parameters (a statement holding its values is built and its
        # cache key computed anew on every pass).
        self._next_batch = (
            select(table.c.seq, table.c.topic, table.c.partition_key, table.c.payload)
            .where(table.c.published_at.is_(None))
            .order_by(table.c.seq)
            .limit(batch_size)
            .with_for_update()
        )
        self._mark_published = (
            update(table)
            .where(table.c.seq.in_(bindparam("seqs", expanding=True)))
            .values(published_at=bindparam("now"))
        )
        # Without a wake-up channel (tests, tools), the relay simply polls.
        self._wakeup = wakeup or Wakeup(
            None, OUTBOX_CHANNEL, poll_interval=poll_interval, listen_poll_interval=poll_interval
        )

    async def relay_once(self) -> int:
        async with self._database.transaction() as connection:
            if not self._database.is_sqlite:
                # The row locks are this relay's lease: if it hangs while publishing, PostgreSQL
                # ends its session and another replica takes over from the same rows.
                await connection.execute(_LEASE)
            rows = (await connection.execute(self._next_batch)).all()
            if not rows:
                return 0
            spans = [_publish_span(row.payload) for row in rows]
            try:
                await self._sink.send(
                    [
                        OutgoingRecord(
                            topic=row.topic,
                            key=row.partition_key,
                            value=row.payload,
                            headers=_headers(span),
                        )
                        for row, span in zip(rows, spans, strict=True)
                    ]
                )
            finally:
                for span in spans:
                    span.end()
            await connection.execute(
                self._mark_published,
                {"seqs": [row.seq for row in rows], "now": datetime.now(UTC)},
            )
        EVENTS_PUBLISHED.labels(self._service).inc(len(rows))
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        async with self._wakeup.listening_while():
            await self._relay_until(stop)

    async def _relay_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                relayed = await self.relay_once()
            except Exception:
                # Broker or database away: keep the rows, try again; never drop.
                log.exception("outbox relay failed; retrying")
                relayed = 0
                await sleep_or_stop(stop, 1.0)
            if relayed < self._batch_size:
                # Drained what had been committed: another pass at once would mostly find
                # nothing (five round trips for it). Rows committed during this pass have
                # left a wake-up behind, so this returns at once for them.
                await self._wakeup.wait(stop)

    async def backlog(self) -> int:
        return (await unpublished(self._database, self._table)).count


@dataclass(frozen=True)
class Unpublished:
    count: int
    oldest: datetime | None  # when the oldest unpublished event was written


async def unpublished(database: Database, table: Table) -> Unpublished:
    """The events waiting in an outbox to be published."""
    async with database.connect() as connection:
        count, oldest = (
            await connection.execute(
                select(func.count(), func.min(table.c.created_at)).where(
                    table.c.published_at.is_(None)
                )
            )
        ).one()
    return Unpublished(int(count or 0), oldest)


async def prune_sent(database: Database, table: Table, before: datetime, batch_size: int) -> int:
    """Delete rows published before `before`, `batch_size` at a time; returns how many.

    Only published rows go: the relay never reads them again, they are kept a while only for
    looking into what was sent. Each batch is its own short transaction.
    """
    pruned = 0
    while True:
        oldest = (
            select(table.c.seq)
            .where(table.c.published_at.is_not(None), table.c.published_at < before)
            .order_by(table.c.seq)
            .limit(batch_size)
        )
        async with database.transaction() as connection:
            result = await connection.execute(delete(table).where(table.c.seq.in_(oldest)))
        pruned += result.rowcount
        if result.rowcount < batch_size:
            return pruned
