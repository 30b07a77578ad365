"""Operator actions on the event bus: inspect and re-drive dead letters, reset a consumer group.

`KafkaOperations` works on a Kafka cluster, `EmbeddedOperations` on the embedded event log of
`linli run`; both answer the same `Operations` protocol, so `linli dlq` and `linli consumers`
behave the same in either mode.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CoordinatorLoadInProgressError, CoordinatorNotAvailableError

from linli_shared.messaging.embedded import EventLog, open_log
from linli_shared.messaging.processing import (
    FIRST_FAILED_HEADER,
    REPLAY_FOR_HEADER,
    REPLAYED_FROM_HEADER,
)
from linli_shared.messaging.records import OutgoingRecord, PartitionLag

DLQ_MARK = ".dlq."
DLQ_HEADER_PREFIX = "linli-dlq-"
REPLAYER_GROUP = "linli-dlq-replayer"


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: str
    value: bytes
    headers: dict[str, bytes]
    # When the bus took the record (Kafka's record timestamp); None where the bus keeps none.
    timestamp: datetime | None = None

    def header(self, name: str) -> str:
        return self.headers.get(DLQ_HEADER_PREFIX + name, b"").decode(errors="replace")

    @property
    def source_topic(self) -> str:
        return self.header("source-topic") or self.topic.split(DLQ_MARK)[0]

    @property
    def where(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @cached_property
    def _document(self) -> dict[str, Any]:
        try:
            document = json.loads(self.value)
        except ValueError:
            return {}
        return document if isinstance(document, dict) else {}

    def _attribute(self, name: str) -> str:
        """A CloudEvent attribute of the record; empty when the record is no JSON object."""
        value = self._document.get(name)
        return value if isinstance(value, str) else ""

    @property
    def event_id(self) -> str:
        return self._attribute("id")

    @property
    def event_type(self) -> str:
        return self._attribute("type")

    @property
    def subject(self) -> str:
        return self._attribute("subject") or self.key

    @property
    def correlation_id(self) -> str:
        return self._attribute("correlationid")

    @property
    def first_failed_at(self) -> str:
        """When a consumer first failed on the event (kept across replays)."""
        return self.header("first-failed-at") or self._bus_time()

    @property
    def last_failed_at(self) -> str:
        """When the consumer gave up on it this time."""
        return self.header("last-failed-at") or self._bus_time()

    def _bus_time(self) -> str:
        return self.timestamp.isoformat() if self.timestamp is not None else ""

    def summary(self) -> dict[str, Any]:
        """What `linli dlq list` shows of a dead letter (also its `--json` form)."""
        return {
            "id": self.event_id,
            "type": self.event_type,
            "subject": self.subject,
            "correlation_id": self.correlation_id,
            "reason": self.header("reason"),
            "attempts": int(self.header("attempts") or 0),
            "first_failed_at": self.first_failed_at,
            "last_failed_at": self.last_failed_at,
            "consumer_group": self.header("consumer-group"),
            "source": (
                f"{self.source_topic}:{self.header('source-partition')}:"
                f"{self.header('source-offset')}"
            ),
            "dead_letter": self.where,
            "replayed_from": self.headers.get(REPLAYED_FROM_HEADER, b"").decode(errors="replace"),
            "error": self.header("error"),
        }

    def matches(
        self,
        *,
        event_id: str | None = None,
        correlation_id: str | None = None,
        event_type: str | None = None,
        reason: str | None = None,
    ) -> bool:
        wanted = {
            "id": event_id,
            "correlation_id": correlation_id,
            "type": event_type,
            "reason": reason,
        }
        summary = self.summary()
        return all(value is None or summary[name] == value for name, value in wanted.items())


def replay_record(letter: DeadLetter) -> OutgoingRecord:
    """The dead letter as it goes back to its source topic: its own headers, where it came
    from, when it first failed, and the one consumer group meant to apply it again."""
    headers = {
        name: value
        for name, value in letter.headers.items()
        if not name.startswith(DLQ_HEADER_PREFIX)
    }
    headers[REPLAYED_FROM_HEADER] = letter.where.encode()
    if letter.first_failed_at:
        headers[FIRST_FAILED_HEADER] = letter.first_failed_at.encode()
    # Only the group that gave up on it applies it again; the others skip it.
    headers[REPLAY_FOR_HEADER] = letter.header("consumer-group").encode()
    return OutgoingRecord(
        topic=letter.source_topic, key=letter.key, value=letter.value, headers=headers
    )


class Operations(Protocol):
    async def dead_letter_topics(self, group: str | None = None) -> list[str]: ...

    async def read_dead_letters(
        self, topics: Sequence[str], *, only_unreplayed: bool = False
    ) -> list[DeadLetter]: ...

    async def replay_dead_letters(
        self, topics: Sequence[str], *, event_id: str | None = None
    ) -> list[DeadLetter]: ...

    async def reset_group(self, group: str, topics: Sequence[str]) -> dict[str, int]: ...


def _is_dead_letter_topic(topic: str, group: str | None) -> bool:
    return DLQ_MARK in topic and (group is None or topic.endswith(DLQ_MARK + group))


class KafkaOperations:
    def __init__(self, bootstrap: str, namespace: str = "", **client_options: object) -> None:
        self._bootstrap = bootstrap
        self._namespace = namespace
        self._options = client_options

    async def dead_letter_topics(self, group: str | None = None) -> list[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, **self._options)
        await admin.start()
        try:
            topics = await admin.list_topics()
        finally:
            await admin.close()
        logical = [t[len(self._namespace) :] for t in topics if t.startswith(self._namespace)]
        return sorted(t for t in logical if _is_dead_letter_topic(t, group))

    async def read_dead_letters(
        self, topics: Sequence[str], *, only_unreplayed: bool = False
    ) -> list[DeadLetter]:
        """The records in the dead-letter topics; with `only_unreplayed`, those not re-driven."""
        group = self._namespace + REPLAYER_GROUP if only_unreplayed else None
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self._options,
        )
        await _start(consumer)
        try:
            return await _drain(
                consumer,
                [self._namespace + t for t in topics],
                len(self._namespace),
                group is not None,
            )
        finally:
            await consumer.stop()

    async def replay_dead_letters(
        self, topics: Sequence[str], *, event_id: str | None = None
    ) -> list[DeadLetter]:
        """Re-publish dead letters to their source topics, once each (progress is committed).

        With `event_id`, only that event's dead letters, whether replayed before or not; the
        progress of the full replay is left as it was.
        """
        group = self._namespace + REPLAYER_GROUP if event_id is None else None
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self._options,
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap, enable_idempotence=True, acks="all", **self._options
        )
        await _start(consumer)
        try:
            await _start(producer)
        except BaseException:
            await consumer.stop()
            raise
        try:
            letters = await _drain(
                consumer,
                [self._namespace + t for t in topics],
                len(self._namespace),
                group is not None,
            )
            if event_id is not None:
                letters = [letter for letter in letters if letter.event_id == event_id]
            for letter in letters:
                record = replay_record(letter)
                await producer.send_and_wait(
                    self._namespace + record.topic,
                    record.value,
                    key=record.key.encode() or None,
                    headers=list(record.headers.items()),
                )
                if group is not None:
                    where = TopicPartition(self._namespace + letter.topic, letter.partition)
                    await consumer.commit({where: letter.offset + 1})
            return letters
        finally:
            await producer.stop()
            await consumer.stop()

    async def reset_group(self, group: str, topics: Sequence[str]) -> dict[str, int]:
        """Point a stopped consumer group at the beginning of its topics, so it re-consumes them.

        Effects stay the same: every handler's inbox recognises what it already applied.
        """
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=self._namespace + group,
            enable_auto_commit=False,
            client_id=f"linli-reset-{uuid.uuid4().hex[:6]}",
            **self._options,
        )
        await _start(consumer)
        try:
            partitions = await _partitions(consumer, [self._namespace + t for t in topics])
            consumer.assign(partitions)
            beginnings = await consumer.beginning_offsets(partitions)
            if partitions:
                await consumer.commit({tp: beginnings[tp] for tp in partitions})
            return {f"{tp.topic}:{tp.partition}": beginnings[tp] for tp in partitions}
        finally:
            await consumer.stop()

    async def consumer_lag(self, groups: Mapping[str, Sequence[str]]) -> list[PartitionLag]:
        """Each group's committed offset and the end offset of every partition of its topics,
        read from the brokers: it needs no member of the group to be running.

        A partition the group never committed to counts from its beginning, where the group
        would start (`auto_offset_reset=earliest`).
        """
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, **self._options)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, enable_auto_commit=False, **self._options
        )
        try:
            await admin.start()
            await consumer.start()
            lags: list[PartitionLag] = []
            for group, topics in groups.items():
                committed = await _committed_offsets(admin, self._namespace + group)
                partitions = await _partitions(consumer, [self._namespace + t for t in topics])
                if not partitions:
                    continue
                ends = await consumer.end_offsets(partitions)
                positions = {
                    tp: committed[tp].offset
                    for tp in partitions
                    if tp in committed and committed[tp].offset >= 0
                }
                never = [tp for tp in partitions if tp not in positions]
                if never:
                    positions.update(await consumer.beginning_offsets(never))
                lags.extend(
                    PartitionLag(
                        group=group,
                        topic=tp.topic[len(self._namespace) :],
                        partition=tp.partition,
                        position=positions[tp],
                        end=ends[tp],
                    )
                    for tp in partitions
                )
            return lags
        finally:
            await consumer.stop()
            await admin.close()


async def _start(client: AIOKafkaConsumer | AIOKafkaProducer) -> None:
    """Start a client; one that cannot reach the cluster is closed again, not left behind."""
    try:
        await client.start()
    except BaseException:
        await client.stop()
        raise


async def _partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    """The partitions of the topics (a consumer without a subscription must ask for them)."""
    await consumer._client.force_metadata_update()
    return [
        TopicPartition(topic, partition)
        for topic in topics
        for partition in sorted(consumer.partitions_for_topic(topic) or set())
    ]


async def _drain(
    consumer: AIOKafkaConsumer, topics: Sequence[str], namespace_length: int, from_committed: bool
) -> list[DeadLetter]:
    partitions = await _partitions(consumer, topics)
    if not partitions:
        return []
    consumer.assign(partitions)
    ends = await consumer.end_offsets(partitions)
    for tp in partitions:
        committed = await consumer.committed(tp) if from_committed else None
        if committed is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)
    letters: list[DeadLetter] = []
    pending = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=1000)
        for tp, records in batches.items():
            for record in records:
                letters.append(
                    DeadLetter(
                        topic=record.topic[namespace_length:],
                        partition=record.partition,
                        offset=record.offset,
                        key=(record.key or b"").decode(errors="replace"),
                        value=record.value or b"",
                        headers=dict(record.headers),
                        timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC)
                        if record.timestamp is not None and record.timestamp >= 0
                        else None,
                    )
                )
            if records and records[-1].offset + 1 >= ends[tp]:
                pending.discard(tp)
    return letters


class EmbeddedOperations:
    """The same operations on the embedded event log (one SQLite file, see `messaging.embedded`).

    Safe while `linli run` uses the log, except `reset_group`, which needs its consumers stopped.
    """

    def __init__(self, log_path: Path, partitions: int = 3) -> None:
        self._path = log_path.resolve()
        self._partitions = partitions

    async def dead_letter_topics(self, group: str | None = None) -> list[str]:
        async with open_log(self._path) as event_log:
            topics = await event_log.topic_names()
        return sorted(t for t in topics if _is_dead_letter_topic(t, group))

    async def read_dead_letters(
        self, topics: Sequence[str], *, only_unreplayed: bool = False
    ) -> list[DeadLetter]:
        async with open_log(self._path) as event_log:
            return await _read_log(event_log, topics, REPLAYER_GROUP if only_unreplayed else None)

    async def replay_dead_letters(
        self, topics: Sequence[str], *, event_id: str | None = None
    ) -> list[DeadLetter]:
        async with open_log(self._path) as event_log:
            if event_id is not None:
                letters = await _read_log(event_log, topics, None)
                letters = [letter for letter in letters if letter.event_id == event_id]
                await event_log.append([replay_record(x) for x in letters], self._partitions)
                return letters
            letters = await _read_log(event_log, topics, REPLAYER_GROUP)
            for letter in letters:
                await event_log.append([replay_record(letter)], self._partitions)
                await event_log.commit(
                    REPLAYER_GROUP, (letter.topic, letter.partition), letter.offset + 1
                )
            return letters

    async def reset_group(self, group: str, topics: Sequence[str]) -> dict[str, int]:
        async with open_log(self._path) as event_log:
            reset: dict[str, int] = {}
            for topic in topics:
                for partition in range(await event_log.partitions(topic)):
                    await event_log.commit(group, (topic, partition), 0)
                    reset[f"{topic}:{partition}"] = 0
            return reset


async def _read_log(
    event_log: EventLog, topics: Sequence[str], from_group: str | None
) -> list[DeadLetter]:
    """Every record of `topics`, from `from_group`'s committed offsets (or the beginning)."""
    letters: list[DeadLetter] = []
    # A group that never commits reads from the beginning.
    group = from_group or f"linli-dlq-reader-{uuid.uuid4().hex}"
    positions: dict[tuple[str, int], int] = {}
    while True:
        added, batches = await event_log.fetch(group, topics, positions, 500)
        positions.update(added)
        if not batches:
            return letters
        for where, records in sorted(batches.items()):
            letters.extend(
                DeadLetter(
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    key=(record.key or b"").decode(errors="replace"),
                    value=record.value or b"",
                    headers=record.headers,
                )
                for record in records
            )
            positions[where] = records[-1].offset + 1


# A broker that has just started has no group coordinator until it has made its offsets topic
# (a few seconds): the lag of a group asked for meanwhile waits for it, this long at most.
COORDINATOR_ATTEMPTS = 10
COORDINATOR_BACKOFF_SECONDS = 0.5


async def _committed_offsets(admin: AIOKafkaAdminClient, group: str) -> dict[TopicPartition, Any]:
    for _ in range(COORDINATOR_ATTEMPTS - 1):
        try:
            return dict(await admin.list_consumer_group_offsets(group))
        except (CoordinatorNotAvailableError, CoordinatorLoadInProgressError):
            await asyncio.sleep(COORDINATOR_BACKOFF_SECONDS)
    return dict(await admin.list_consumer_group_offsets(group))
