"""Reading what the platform published, straight from Kafka."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition

from linli_shared.messaging.envelope import Envelope, MalformedEvent
from tests.support.scan import as_text


async def read_topics(bootstrap: str, namespace: str, topics: list[str]) -> list[Envelope]:
    """Every record now in the (namespaced) topics, from the beginning, parsed as envelopes."""
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
        envelopes: list[Envelope | None] = []
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batches = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), timeout=30)
            for tp, records in batches.items():
                envelopes.extend(_parsed(r.value) for r in records)
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        return [envelope for envelope in envelopes if envelope is not None]
    finally:
        await consumer.stop()


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


async def namespace_texts(bootstrap: str, namespace: str) -> dict[str, str]:
    """Every record of EVERY topic of the namespace (streams, partner topics, dead letters, each
    service's own), from the beginning, as text per topic: keys, values and headers, JSON decoded
    (so escaped characters are found as themselves), records that are no event included."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id=f"test-scanner-{uuid.uuid4().hex[:6]}",
    )
    await consumer.start()
    try:
        names = sorted(t for t in await consumer.topics() if t.startswith(namespace))
        partitions = await _partitions(consumer, "", names)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        texts: dict[str, list[str]] = {name: [] for name in names}
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batches = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), timeout=30)
            for tp, records in batches.items():
                for record in records:
                    parts = [record.key, record.value, *(v for _, v in record.headers or ())]
                    texts[tp.topic].extend(as_text(part) for part in parts if part)
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        return {name: "\n".join(found) for name, found in texts.items()}
    finally:
        await consumer.stop()
