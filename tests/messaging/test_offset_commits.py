"""A Kafka consumer tells the group what it processed in a few coalesced commits, not one per
partition per batch (which at low rates was a request per record), and still commits everything
it processed: what it committed is where the next member of the group starts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from linli_shared.messaging.kafka import KafkaTransport
from linli_shared.messaging.records import IncomingRecord, OutgoingRecord
from tests.support.infra import KafkaService

pytestmark = pytest.mark.servers

TOPIC = "linli.commits.v1"
RECORDS = 60


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
        for i in range(RECORDS):  # one at a time, as a quiet platform produces them
            await producer.send([OutgoingRecord(TOPIC, f"key-{i % 7}", f"v{i}".encode())])
            await asyncio.sleep(0.01)
        await asyncio.wait_for(consuming, 60)
    finally:
        await consumer.stop()
        await producer.stop()

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
