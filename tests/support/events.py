"""Reading what the platform published, straight from Kafka."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition

from linli_shared.messaging.envelope import Envelope, MalformedEvent


async def read_topics(bootstrap: str, namespace: str, topics: list[str]) -> list[Envelope]:
    """Every record now in the (namespaced) topics, from the beginning, parsed as envelopes."""
    envelopes = [_parsed(value) for value in await read_records(bootstrap, namespace, topics)]
    return [envelope for envelope in envelopes if envelope is not None]


async def read_records(bootstrap: str, namespace: str, topics: list[str]) -> list[bytes]:
    """Every record's value now in the (namespaced) topics, from the beginning, as it lies
    there (poison included)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id=f"test-reader-{uuid.uuid4().hex[:6]}",
    )
    await consumer.start()
    try:
        partitions = await _partitions(consumer, namespace, topics)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        values: list[bytes] = []
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batches = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), timeout=30)
            for tp, records in batches.items():
                values.extend(r.value or b"" for r in records)
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        return values
    finally:
        await consumer.stop()


async def namespace_topics(bootstrap: str, namespace: str) -> list[str]:
    """Every topic of the namespace on the broker (streams and dead letters), without it."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        found = await consumer.topics()
    finally:
        await consumer.stop()
    return sorted(t.removeprefix(namespace) for t in found if t.startswith(namespace))


def _parsed(value: bytes | None) -> Envelope | None:
    """Injected poison is not an event: it is skipped here and checked in the dead letters."""
    try:
        return Envelope.from_json(value or b"")
    except MalformedEvent:
        return None


async def group_lag(bootstrap: str, namespace: str, group: str, topics: list[str]) -> int:
    """How many records the consumer group has not committed yet, over the topics."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=namespace + group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = await _partitions(consumer, namespace, topics)
        assert partitions, f"no partitions for {topics}"
        ends = await consumer.end_offsets(partitions)
        lag = 0
        for tp in partitions:
            committed = await consumer.committed(tp)
            lag += ends[tp] - (committed or 0)
        return lag
    finally:
        await consumer.stop()


async def _partitions(
    consumer: AIOKafkaConsumer, namespace: str, topics: list[str]
) -> list[TopicPartition]:
    await consumer._client.force_metadata_update()
    return [
        TopicPartition(namespace + topic, p)
        for topic in topics
        for p in (consumer.partitions_for_topic(namespace + topic) or set())
    ]
