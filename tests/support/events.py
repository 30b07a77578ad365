"""Reading what the platform published, straight from Kafka."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition

from linli_shared.messaging.envelope import Envelope, MalformedEvent


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
        partitions = [
            TopicPartition(namespace + topic, p)
            for topic in topics
            for p in (consumer.partitions_for_topic(namespace + topic) or set())
        ]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [
                TopicPartition(namespace + topic, p)
                for topic in topics
                for p in (consumer.partitions_for_topic(namespace + topic) or set())
            ]
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
