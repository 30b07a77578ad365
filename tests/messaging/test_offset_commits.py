"""A consumer tells its group what it processed in a few coalesced commits, not one per partition
per batch (which at low rates was a Kafka request, or an fsync of the embedded log, per record),
and still commits everything it processed: what it committed is where the group resumes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from linli_shared.messaging.embedded import EmbeddedTransport, EventLog, open_log
from linli_shared.messaging.kafka import KafkaTransport, _commit
from linli_shared.messaging.records import IncomingRecord, OutgoingRecord
from linli_shared.messaging.worker import Transport
from tests.support.infra import KafkaService

TOPIC = "linli.commits.v1"
RECORDS = 60


@pytest.mark.servers
async def test_processed_records_are_committed_in_a_few_requests_and_none_is_lost(
    kafka: KafkaService, kafka_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits: list[dict[TopicPartition, int]] = []
    commit = AIOKafkaConsumer.commit

    async def counted(self: AIOKafkaConsumer, offsets: Any = None) -> None:
        commits.append(dict(offsets or {}))
        await commit(self, offsets)

    monkeypatch.setattr(AIOKafkaConsumer, "commit", counted)
    producer = KafkaTransport(kafka.bootstrap, "producer", partitions=3, namespace=kafka_namespace)
    consumer = KafkaTransport(kafka.bootstrap, "consumer", partitions=3, namespace=kafka_namespace)
    received = await _consumed_one_at_a_time(producer, consumer)

    assert len(received) == RECORDS
    assert len(commits) < RECORDS // 3, f"{len(commits)} commits for {RECORDS} records"
    committed: dict[TopicPartition, int] = {}
    for offsets in commits:
        committed.update(offsets)
    ends: dict[TopicPartition, int] = {}
    for record in received:
        partition = TopicPartition(kafka_namespace + TOPIC, record.partition)
        ends[partition] = max(ends.get(partition, 0), record.offset + 1)
    assert committed == ends, "every partition committed up to its last processed record"


async def test_the_embedded_log_commits_in_a_few_writes_and_none_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits: list[Mapping[tuple[str, int], int]] = []
    commit_all = EventLog.commit_all

    async def counted(self: EventLog, group: str, offsets: Mapping[tuple[str, int], int]) -> None:
        commits.append(dict(offsets))
        await commit_all(self, group, offsets)

    monkeypatch.setattr(EventLog, "commit_all", counted)
    path = tmp_path / "events.db"
    producer = EmbeddedTransport(path, "producer", partitions=3, poll_interval=0.05)
    consumer = EmbeddedTransport(path, "consumer", partitions=3, poll_interval=0.05)
    received = await _consumed_one_at_a_time(producer, consumer)

    assert len(received) == RECORDS
    assert len(commits) < RECORDS // 3, f"{len(commits)} commits for {RECORDS} records"
    ends: dict[tuple[str, int], int] = {}
    for record in received:
        where = (TOPIC, record.partition)
        ends[where] = max(ends.get(where, 0), record.offset + 1)
    async with open_log(path) as event_log:
        assert {where: await event_log.committed("committing", where) for where in ends} == ends


async def _consumed_one_at_a_time(producer: Transport, consumer: Transport) -> list[IncomingRecord]:
    """Records produced one at a time, as a quiet platform produces them, each consumed before
    the next arrives; the consumer stops (gracefully) after the last."""
    await producer.start()
    await consumer.start()
    try:
        await producer.ensure_topics([TOPIC])
        received: list[IncomingRecord] = []
        stop = asyncio.Event()

        async def process(record: IncomingRecord) -> None:
            received.append(record)
            await asyncio.sleep(0.005)  # a handler's round trip: the next record polls anew
            if len(received) == RECORDS:
                stop.set()

        consuming = asyncio.create_task(consumer.consume("committing", [TOPIC], process, stop))
        for i in range(RECORDS):
            await producer.send([OutgoingRecord(TOPIC, f"key-{i % 7}", f"v{i}".encode())])
            await asyncio.sleep(0.01)
        await asyncio.wait_for(consuming, 60)
        return received
    finally:
        await consumer.stop()
        await producer.stop()


@pytest.mark.servers
async def test_a_partition_that_moved_away_does_not_fail_the_commit_of_the_others(
    kafka: KafkaService, kafka_namespace: str
) -> None:
    """A lane that outlasted the drain notes an offset for a partition another member now owns;
    the consumer's next commit leaves that one to its new owner and commits its own."""
    topic = kafka_namespace + TOPIC
    producer = KafkaTransport(kafka.bootstrap, "producer", partitions=1, namespace=kafka_namespace)
    await producer.start()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap,
        group_id=kafka_namespace + "moved",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        await producer.ensure_topics([TOPIC])
        await producer.send([OutgoingRecord(TOPIC, "key", b"v")])
        await consumer.start()
        await asyncio.wait_for(consumer.getmany(timeout_ms=10_000), 30)
        [owned] = consumer.assignment()
        moved_away = TopicPartition(topic, 7)
        finished = {owned: 1, moved_away: 3}

        await _commit(consumer, finished)

        assert finished == {}
        assert await consumer.committed(owned) == 1
    finally:
        await consumer.stop()
        await producer.stop()
