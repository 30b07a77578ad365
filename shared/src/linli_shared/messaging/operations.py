"""Operator actions on Kafka: inspect and re-drive dead letters, reset a consumer group."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from linli_shared.messaging.processing import REPLAY_FOR_HEADER
from linli_shared.messaging.records import PartitionLag

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

    def header(self, name: str) -> str:
        return self.headers.get(DLQ_HEADER_PREFIX + name, b"").decode(errors="replace")

    @property
    def source_topic(self) -> str:
        return self.header("source-topic") or self.topic.split(DLQ_MARK)[0]


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
        return sorted(
            t for t in logical if DLQ_MARK in t and (group is None or t.endswith(DLQ_MARK + group))
        )

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
        await consumer.start()
        try:
            return await _drain(
                consumer,
                [self._namespace + t for t in topics],
                len(self._namespace),
                group is not None,
            )
        finally:
            await consumer.stop()

    async def replay_dead_letters(self, topics: Sequence[str]) -> list[DeadLetter]:
        """Re-publish dead letters to their source topics, once each (progress is committed)."""
        group = self._namespace + REPLAYER_GROUP
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
        await consumer.start()
        await producer.start()
        try:
            letters = await _drain(
                consumer, [self._namespace + t for t in topics], len(self._namespace), True
            )
            for letter in letters:
                headers = [
                    (name, value)
                    for name, value in letter.headers.items()
                    if not name.startswith(DLQ_HEADER_PREFIX)
                ]
                headers.append(
                    (
                        "linli-replayed-from",
                        f"{letter.topic}:{letter.partition}:{letter.offset}".encode(),
                    )
                )
                # Only the group that gave up on it applies it again; the others skip it.
                headers.append((REPLAY_FOR_HEADER, letter.header("consumer-group").encode()))
                await producer.send_and_wait(
                    self._namespace + letter.source_topic,
                    letter.value,
                    key=letter.key.encode() or None,
                    headers=headers,
                )
                await consumer.commit(
                    {
                        TopicPartition(
                            self._namespace + letter.topic, letter.partition
                        ): letter.offset + 1
                    }
                )
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
        await consumer.start()
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
                committed = await admin.list_consumer_group_offsets(self._namespace + group)
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
                    )
                )
            if records and records[-1].offset + 1 >= ends[tp]:
                pending.discard(tp)
    return letters
