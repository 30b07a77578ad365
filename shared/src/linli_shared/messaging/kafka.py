"""The Kafka transport (aiokafka): idempotent producer, consumer groups with manual commits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from linli_shared.contracts.topics import is_dead_letter_topic
from linli_shared.messaging.lanes import COMMIT_INTERVAL_SECONDS, Lanes
from linli_shared.messaging.records import (
    IncomingRecord,
    OutgoingRecord,
    Process,
    ProcessBatch,
    chunked,
    one_by_one,
)

log = logging.getLogger(__name__)


class KafkaTransport:
    def __init__(
        self,
        bootstrap_servers: str,
        client_id: str,
        *,
        partitions: int = 3,
        replication_factor: int = 1,
        namespace: str = "",
        session_timeout_ms: int = 10_000,
        client_options: dict[str, Any] | None = None,
        dead_letter_retention_ms: int | None = None,
    ) -> None:
        """`namespace` prefixes every topic and consumer group, so several deployments (or test
        runs) can share one cluster; services only ever see the logical names.
        `dead_letter_retention_ms`: the `retention.ms` of the dead-letter topics this transport
        creates (the service's retention policy); on Kubernetes the topics come from the
        manifests instead, which a test keeps equal to the policies."""
        self._bootstrap = bootstrap_servers
        self._client_id = client_id
        self._partitions = partitions
        self._replication_factor = replication_factor
        self._namespace = namespace
        self._session_timeout_ms = session_timeout_ms
        self._options = client_options or {}
        self._dead_letter_retention_ms = dead_letter_retention_ms
        self._producer: AIOKafkaProducer | None = None
        self._joined: set[str] = set()

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            **self._options,
        )
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send(self, records: Sequence[OutgoingRecord]) -> None:
        """Send in order and wait for every acknowledgement (acks=all, idempotent)."""
        if self._producer is None:
            raise RuntimeError("KafkaTransport.send before start")
        pending = [
            await self._producer.send(
                self._namespace + record.topic,
                record.value,
                key=record.key.encode(),
                headers=list(record.headers.items()),
            )
            for record in records
        ]
        await asyncio.gather(*pending)

    async def ensure_topics(self, topics: Iterable[str]) -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self._bootstrap, client_id=self._client_id, **self._options
        )
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(
                    self._namespace + topic,
                    self._partitions,
                    self._replication_factor,
                    topic_configs=self._configs(topic),
                )
                for topic in sorted(set(topics))
                if self._namespace + topic not in existing
            ]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(missing)
        finally:
            await admin.close()

    def _configs(self, topic: str) -> dict[str, str]:
        if is_dead_letter_topic(topic) and self._dead_letter_retention_ms is not None:
            return {"retention.ms": str(self._dead_letter_retention_ms)}
        return {}

    async def ping(self) -> None:
        """Ask the cluster for its metadata, as any client does first; raises when it cannot."""
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self._bootstrap, client_id=self._client_id, **self._options
        )
        try:
            await admin.start()
        finally:
            await admin.close()

    def consuming(self, group: str) -> bool:
        """True once this process's consumer of `group` has joined it and got its assignment
        (which may be empty: a standby replica is ready too)."""
        return group in self._joined

    async def consume(
        self, group: str, topics: Sequence[str], process: Process, stop: asyncio.Event
    ) -> None:
        """`consume_batches` one record at a time."""
        await self.consume_batches(group, topics, one_by_one(process), stop, batch_size=1)

    async def consume_batches(
        self,
        group: str,
        topics: Sequence[str],
        process: ProcessBatch,
        stop: asyncio.Event,
        batch_size: int,
    ) -> None:
        """Consume until `stop`; partitions in parallel, each in its own lane (a partition that
        waits holds back no other: `linli_shared.messaging.lanes`), records of one partition in
        order, handed over in batches of up to `batch_size` consecutive records.

        A lane notes its partition's next offset once a poll's records are processed; the
        consumer commits what the lanes noted in one request, at most every
        `COMMIT_INTERVAL_SECONDS`, before partitions move away and when it stops. A crash
        redelivers at most the uncommitted tail, which the inbox turns into no-ops.
        """
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            group_id=self._namespace + group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=5000,
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(500, self._session_timeout_ms // 5),
            **self._options,
        )
        lanes: Lanes[TopicPartition] = Lanes()
        finished: dict[TopicPartition, int] = {}  # next offsets processed, not yet committed
        consumer.subscribe(
            [self._namespace + topic for topic in topics],
            listener=_DrainBeforeRevoke(
                lanes.idle,
                on_assigned=lambda: self._joined.add(group),
                before_revoke=lambda: _commit(consumer, finished),
            ),
        )
        await consumer.start()
        committed_at = time.monotonic()
        try:
            while not stop.is_set():
                await lanes.check()
                if finished and time.monotonic() - committed_at >= COMMIT_INTERVAL_SECONDS:
                    await _commit(consumer, finished)
                    committed_at = time.monotonic()
                busy = lanes.busy()
                free = consumer.assignment() - busy
                if busy and not free:
                    await lanes.wait_for_one(0.5)
                    continue
                # Only the partitions whose lanes are free: the others' records stay buffered.
                batches = await consumer.getmany(
                    *(free if busy else ()),
                    timeout_ms=int(lanes.poll_seconds(0.5) * 1000),
                    max_records=500,
                )
                for partition, records in batches.items():
                    lanes.start(
                        partition,
                        _process_partition(
                            finished,
                            partition,
                            records,
                            process,
                            stop,
                            len(self._namespace),
                            batch_size,
                        ),
                    )
            await lanes.check()
        finally:
            await lanes.finish()
            await _commit(consumer, finished)
            self._joined.discard(group)
            await consumer.stop()  # leaves the group, so the others rebalance at once


class _DrainBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Let in-flight records finish (and their offsets commit) before partitions move.

    Bounded, so a slow handler cannot stall the group; past the bound the new owner may see a
    record again, which the inbox absorbs.
    """

    def __init__(
        self,
        idle: asyncio.Event,
        on_assigned: Callable[[], None],
        before_revoke: Callable[[], Awaitable[None]],
        bound: float = 20.0,
    ) -> None:
        self._idle = idle
        self._on_assigned = on_assigned
        self._before_revoke = before_revoke
        self._bound = bound

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self._bound)
        await self._before_revoke()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._on_assigned()


async def _commit(consumer: AIOKafkaConsumer, finished: dict[TopicPartition, int]) -> None:
    """Commit the offsets the lanes finished, in one request. A partition that moved to another
    member meanwhile (its lane outlasted the drain's bound) is left to its new owner, which
    redelivers; one such partition must not fail the commit of the others."""
    assigned = consumer.assignment()
    offsets = {partition: offset for partition, offset in finished.items() if partition in assigned}
    finished.clear()  # a lane finishing during the commit notes its offset for the next one
    if not offsets:
        return
    try:
        await consumer.commit(offsets)
    except KafkaError as error:
        # Rebalanced away: the new owner redelivers; the inbox keeps effects single.
        log.warning("offset commit failed for %s: %s", sorted(map(str, offsets)), error)


async def _process_partition(
    finished: dict[TopicPartition, int],
    partition: TopicPartition,
    records: list[ConsumerRecord[bytes, bytes]],
    process: ProcessBatch,
    stop: asyncio.Event,
    namespace_length: int,
    batch_size: int,
) -> None:
    next_offset: int | None = None
    incoming = [_incoming(record, namespace_length) for record in records]
    try:
        for batch in chunked(incoming, batch_size):
            if stop.is_set():
                break
            await process(batch)
            next_offset = batch[-1].offset + 1
    finally:
        if next_offset is not None:
            finished[partition] = next_offset


def _incoming(record: ConsumerRecord[bytes, bytes], namespace_length: int) -> IncomingRecord:
    return IncomingRecord(
        topic=record.topic[namespace_length:],
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers={name: value for name, value in record.headers},
    )
