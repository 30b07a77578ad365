"""What happens to consumed records, whatever the transport.

parse → skip types this group does not handle → claim the event id in the inbox and run the
handler in one transaction → on failure retry with backoff → dead-letter what cannot be applied.
Infrastructure faults (database away) retry until the stop signal and never dead-letter, because
the event is not at fault. An event about a subject the consumer has not heard of (yet) is
retried for a bounded time (`UnknownSubject`: its registration may still be on its way) and then
dead-lettered as `unknown-subject`, to be replayed once the registration has arrived.

A batch (consecutive records of one partition) is applied in one transaction, in order, its
events claimed in the inbox by one statement: one commit instead of one per event is what lifts
a consumer past the database's commit rate. If a handler fails, the batch's transaction rolls back
and its records are applied again one at a time, so a poison event is retried and dead-lettered
alone while the others commit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_shared.aio import sleep_or_stop
from linli_shared.context import event_context
from linli_shared.contracts.base import EventCatalogue, EventData
from linli_shared.contracts.topics import dead_letter_topic
from linli_shared.db import Database
from linli_shared.faults import is_data_error, is_infrastructure_error
from linli_shared.messaging.envelope import Envelope, MalformedEvent, UnknownValue
from linli_shared.messaging.inbox import Inbox
from linli_shared.messaging.outbox import RecordSink
from linli_shared.messaging.records import IncomingRecord, OutgoingRecord
from linli_shared.metrics import DEAD_LETTERS, EVENTS_CONSUMED
from linli_shared.telemetry import span_from_traceparent

log = logging.getLogger(__name__)

# Why a record was dead-lettered (the `linli-dlq-reason` header and the metric's `reason`).
MALFORMED = "malformed"
HANDLER_FAILED = "handler-failed"
UNKNOWN_VALUE = "unknown-value"
UNKNOWN_SUBJECT = "unknown-subject"

# Set by `linli dlq replay`: the consumer group a re-driven dead letter is meant for, where it was
# dead-lettered, and when a consumer first failed on it (so a dead letter's first failure
# survives its replays).
REPLAY_FOR_HEADER = "linli-replay-for-group"
REPLAYED_FROM_HEADER = "linli-replayed-from"
FIRST_FAILED_HEADER = "linli-first-failed-at"

Handler = Callable[[AsyncConnection, EventData, Envelope], Awaitable[None]]


E = TypeVar("E", bound=EventData)
Route = tuple[type[EventData], Handler]


def on(model: type[E], use_case: Callable[[E], Awaitable[object]]) -> Route:
    """One event type and the use case that applies it, given the typed event.

    The use case runs inside the processing transaction (its `Database.transaction()` joins it),
    so what it writes commits with the event's inbox claim.
    """

    async def handle(connection: AsyncConnection, event: EventData, envelope: Envelope) -> None:
        await use_case(_typed(model, event))

    return model, handle


def on_sourced(model: type[E], use_case: Callable[[E, str], Awaitable[object]]) -> Route:
    """As `on`, for a use case that also needs the event's id: what it makes (a ledger entry, a
    notice) names the event it came from, so a redelivery is recognised."""

    async def handle(connection: AsyncConnection, event: EventData, envelope: Envelope) -> None:
        await use_case(_typed(model, event), envelope.id)

    return model, handle


def _typed(model: type[E], event: EventData) -> E:
    if not isinstance(event, model):
        raise MalformedEvent(f"{event.event_type} parsed as {type(event).__name__}, not {model}")
    return event


@dataclass(frozen=True)
class Subscription:
    """A consumer group and the handler for each event type it applies."""

    group: str
    handlers: Mapping[type[EventData], Handler]

    @classmethod
    def of(cls, group: str, *routes: Route) -> Subscription:
        """`Subscription.of(GROUP, on(HouseholdRegistered, accounts.open), …)`: a line per type."""
        handlers = dict(routes)
        if len(handlers) != len(routes):
            raise ValueError(f"{group}: an event type is routed twice")
        return cls(group, handlers)

    @property
    def topics(self) -> list[str]:
        return sorted({model.topic for model in self.handlers})

    def handler_for(self, event_type: str) -> Handler | None:
        for model, handler in self.handlers.items():
            if model.event_type == event_type:
                return handler
        return None


class UnknownSubject(Exception):
    """A handler's refusal: the event is about a subject whose owner (the registry) has not
    announced it to this consumer. The registration may be on its way on another topic, so the
    event is retried for `RetryPolicy.unknown_subject_wait`, then dead-lettered."""

    def __init__(self, subject: object, what: str = "subject") -> None:
        super().__init__(f"no {what} {subject} is known: the registry has not announced it")
        self.subject = subject


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    # How long an event about an unknown subject is retried before it is dead-lettered.
    unknown_subject_wait: float = 60.0

    def backoff(self, attempt: int) -> float:
        return float(min(self.max_backoff, self.initial_backoff * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class _Applicable:
    record: IncomingRecord
    envelope: Envelope
    event: EventData
    handler: Handler


class RecordProcessor:
    def __init__(
        self,
        subscription: Subscription,
        database: Database,
        inbox: Inbox,
        catalogue: EventCatalogue,
        dead_letters: RecordSink,
        retry: RetryPolicy,
        stop: asyncio.Event,
    ) -> None:
        self._subscription = subscription
        self._database = database
        self._inbox = inbox
        self._catalogue = catalogue
        self._dead_letters = dead_letters
        self._retry = retry
        self._stop = stop
        # Counted from zero, so the first dead letter is an increase an alert can see.
        for topic in subscription.topics:
            for reason in (MALFORMED, UNKNOWN_VALUE, UNKNOWN_SUBJECT, HANDLER_FAILED):
                DEAD_LETTERS.labels(subscription.group, topic, reason)

    async def process(self, record: IncomingRecord) -> Outcome:
        outcome = await self._process(record)
        EVENTS_CONSUMED.labels(self._subscription.group, record.topic, outcome.value).inc()
        return outcome

    async def process_batch(self, records: Sequence[IncomingRecord]) -> list[Outcome]:
        """Apply consecutive records of one partition, in order, in one transaction."""
        outcomes: list[Outcome | None] = [None] * len(records)
        applicable: list[tuple[int, _Applicable]] = []
        for index, record in enumerate(records):
            prepared = await self._prepare(record)
            if isinstance(prepared, Outcome):
                outcomes[index] = prepared
            else:
                applicable.append((index, prepared))
        applied = await self._apply_batch([item for _, item in applicable])
        for (index, _), outcome in zip(applicable, applied, strict=True):
            outcomes[index] = outcome
        final = [outcome or Outcome.IGNORED for outcome in outcomes]
        for record, outcome in zip(records, final, strict=True):
            EVENTS_CONSUMED.labels(self._subscription.group, record.topic, outcome.value).inc()
        return final

    async def _process(self, record: IncomingRecord) -> Outcome:
        prepared = await self._prepare(record)
        if isinstance(prepared, Outcome):
            return prepared
        return await self._apply_with_retries(prepared)

    async def _prepare(self, record: IncomingRecord) -> _Applicable | Outcome:
        """Parse and pick the handler; what needs no handler is settled here."""
        replay_for = record.headers.get(REPLAY_FOR_HEADER)
        if replay_for is not None and replay_for.decode() != self._subscription.group:
            return Outcome.IGNORED  # a dead letter re-driven for another consumer group
        try:
            envelope = Envelope.from_json(record.value or b"")
            event = envelope.parse(self._catalogue)
        except UnknownValue as error:
            now = _now()
            await self._dead_letter(record, UNKNOWN_VALUE, str(error), 1, now, now)
            return Outcome.DEAD_LETTERED
        except MalformedEvent as error:
            now = _now()
            await self._dead_letter(record, MALFORMED, str(error), 1, now, now)
            return Outcome.DEAD_LETTERED
        handler = self._subscription.handler_for(envelope.type)
        if handler is None:
            return Outcome.IGNORED
        return _Applicable(record, envelope, event, handler)

    async def _apply_batch(self, batch: Sequence[_Applicable]) -> list[Outcome]:
        if len(batch) <= 1:
            return [await self._apply_with_retries(item) for item in batch]
        while True:
            try:
                async with self._database.transaction() as connection:
                    return await self._apply_all_in(connection, batch)
            except Exception as error:
                if self._stop.is_set():
                    raise  # shutting down: the offsets stay uncommitted, they come back later
                if is_infrastructure_error(error):
                    log.warning("infrastructure fault on a batch, waiting: %s", error)
                    await sleep_or_stop(self._stop, self._retry.max_backoff)
                    continue
                # Rolled back as a whole: find the culprit by applying one at a time.
                log.warning("batch of %d failed (%r); applying one at a time", len(batch), error)
                return [await self._apply_with_retries(item) for item in batch]

    async def _apply_with_retries(self, item: _Applicable) -> Outcome:
        record, envelope = item.record, item.envelope
        failures = 0
        first_failed_at: datetime | None = None
        unknown = 0
        waiting_since = time.monotonic()
        while True:
            try:
                async with self._database.transaction() as connection:
                    return await self._apply_in(connection, item)
            except Exception as error:
                if self._stop.is_set():
                    raise  # shutting down: the offset stays uncommitted, it comes back later
                if isinstance(error, MalformedEvent) or is_data_error(error):
                    # Valid by its schema, but meaningless to its handler (it says so by raising
                    # MalformedEvent) or holding what the database cannot store.
                    now = _now()
                    log.warning("database refuses the data of %s: %s", envelope.id, error)
                    await self._dead_letter(
                        record, MALFORMED, repr(error), failures + 1, first_failed_at or now, now
                    )
                    return Outcome.DEAD_LETTERED
                if is_infrastructure_error(error):
                    # Not the event's fault: wait for the database, never dead-letter for it.
                    log.warning("infrastructure fault on %s, waiting: %s", envelope.id, error)
                    await sleep_or_stop(self._stop, self._retry.max_backoff)
                    continue
                if isinstance(error, UnknownSubject):
                    # Bounded: the partition waits for the registration at most this long.
                    unknown += 1
                    first_failed_at = first_failed_at or _now()
                    left = self._retry.unknown_subject_wait - (time.monotonic() - waiting_since)
                    if left <= 0:
                        log.warning("%s, dead-lettering %s", error, envelope.id)
                        await self._dead_letter(
                            record, UNKNOWN_SUBJECT, str(error), unknown, first_failed_at, _now()
                        )
                        return Outcome.DEAD_LETTERED
                    await sleep_or_stop(self._stop, min(left, self._retry.backoff(unknown)))
                    continue
                failures += 1
                first_failed_at = first_failed_at or _now()
                if failures >= self._retry.max_attempts:
                    log.exception("handler failed %d times on %s", failures, envelope.id)
                    await self._dead_letter(
                        record, HANDLER_FAILED, repr(error), failures, first_failed_at, _now()
                    )
                    return Outcome.DEAD_LETTERED
                await sleep_or_stop(self._stop, self._retry.backoff(failures))

    async def _apply_all_in(
        self, connection: AsyncConnection, batch: Sequence[_Applicable]
    ) -> list[Outcome]:
        """Claim a batch's events in one statement, then run the claimed ones' handlers in
        order, inside the caller's transaction."""
        group = self._subscription.group
        claimed = await self._inbox.claim_all(
            connection, group, [(item.envelope.id, item.envelope.type) for item in batch]
        )
        outcomes: list[Outcome] = []
        for item in batch:
            if item.envelope.id not in claimed:
                outcomes.append(Outcome.DUPLICATE)
                continue
            claimed.discard(item.envelope.id)  # a second copy later in the batch is a duplicate
            await self._run_in(connection, item)
            outcomes.append(Outcome.APPLIED)
        return outcomes

    async def _apply_in(self, connection: AsyncConnection, item: _Applicable) -> Outcome:
        """Claim the event in the inbox and run its handler, inside the caller's transaction."""
        group, envelope = self._subscription.group, item.envelope
        if not await self._inbox.claim(connection, group, envelope.id, envelope.type):
            return Outcome.DUPLICATE
        await self._run_in(connection, item)
        return Outcome.APPLIED

    async def _run_in(self, connection: AsyncConnection, item: _Applicable) -> None:
        group, envelope = self._subscription.group, item.envelope
        # The relay's span (Kafka header) is the parent; the envelope's is the fallback.
        header = item.record.headers.get("traceparent")
        traceparent = header.decode(errors="replace") if header else envelope.traceparent
        with (
            event_context(envelope.correlation_id, causation_id=envelope.id),
            span_from_traceparent(f"{group} {envelope.type}", traceparent, SpanKind.CONSUMER),
        ):
            await item.handler(connection, item.event, item.envelope)

    async def _dead_letter(
        self,
        record: IncomingRecord,
        reason: str,
        error: str,
        attempts: int,
        first_failed_at: datetime,
        last_failed_at: datetime,
    ) -> None:
        group = self._subscription.group
        # A replayed dead letter keeps the time of its first failure.
        first = record.headers.get(FIRST_FAILED_HEADER) or first_failed_at.isoformat().encode()
        DEAD_LETTERS.labels(group, record.topic, reason).inc()
        headers = dict(record.headers)
        headers.update(
            {
                "linli-dlq-reason": reason.encode(),
                "linli-dlq-error": error[:2000].encode(),
                "linli-dlq-source-topic": record.topic.encode(),
                "linli-dlq-source-partition": str(record.partition).encode(),
                "linli-dlq-source-offset": str(record.offset).encode(),
                "linli-dlq-consumer-group": group.encode(),
                "linli-dlq-attempts": str(attempts).encode(),
                "linli-dlq-first-failed-at": first,
                "linli-dlq-last-failed-at": last_failed_at.isoformat().encode(),
            }
        )
        await self._dead_letters.send(
            [
                OutgoingRecord(
                    topic=dead_letter_topic(record.topic, group),
                    key=(record.key or b"").decode(errors="replace"),
                    value=record.value or b"",
                    headers=headers,
                )
            ]
        )


def _now() -> datetime:
    return datetime.now(UTC)


def all_topics(subscriptions: Sequence[Subscription]) -> set[str]:
    topics: set[str] = set()
    for subscription in subscriptions:
        topics.update(subscription.topics)
        topics.update(dead_letter_topic(topic, subscription.group) for topic in subscription.topics)
    return topics
