"""The loop's baseline: raw aiokafka produce → consume of same-sized records on the same broker.

Same producer settings as the platform's transport (idempotent, acks=all, linger 5 ms).
"""

from __future__ import annotations

import asyncio
import os
import struct
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.common import latency_summary, open_loop

_STAMP = struct.Struct(">d")


async def _topic(bootstrap: str, partitions: int) -> str:
    name = f"bench-baseline-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


async def _delete(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    except Exception:
        pass  # best effort: a leftover topic in a benchmark namespace harms nobody
    finally:
        await admin.close()


async def round_trips(
    bootstrap: str,
    size: int,
    *,
    burst: int,
    rate: float,
    seconds: float,
    partitions: int = 3,
) -> dict[str, object]:
    """Throughput of a burst (produce all, consume all) and latency at a fixed offered rate."""
    topic = await _topic(bootstrap, partitions)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=5
    )
    # No consumer group: assigned partitions never rebalance away, even on a starved machine.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_end()
        for partition in assigned:
            await consumer.position(partition)  # resolve "end" now, before anything is sent
        payload = os.urandom(max(0, size - _STAMP.size))
        latencies: list[float] = []
        expected = int(rate * seconds)
        received = asyncio.create_task(_receive(consumer, expected, latencies))
        key_of = [str(uuid.uuid4()).encode() for _ in range(64)]

        async def send(index: int) -> None:
            stamp = _STAMP.pack(time.monotonic())
            await producer.send(topic, stamp + payload, key=key_of[index % 64])

        await open_loop(rate, seconds, send)
        await asyncio.wait_for(received, timeout=30)

        started = time.monotonic()
        burst_received = asyncio.create_task(_receive(consumer, burst, []))
        pending = [
            await producer.send(topic, _STAMP.pack(0.0) + payload, key=key_of[i % 64])
            for i in range(burst)
        ]
        await asyncio.gather(*pending)
        await asyncio.wait_for(burst_received, timeout=120)
        elapsed = time.monotonic() - started
    finally:
        await consumer.stop()
        await producer.stop()
        await _delete(bootstrap, topic)
    return {
        "record_bytes": size,
        "partitions": partitions,
        "burst_records": burst,
        "round_trips_per_s": round(burst / elapsed, 1),
        "fixed_rate_per_s": rate,
        "latency_at_fixed_rate": latency_summary(latencies),
    }


async def _receive(consumer: AIOKafkaConsumer, count: int, latencies: list[float]) -> None:
    seen = 0
    while seen < count:
        batches = await consumer.getmany(timeout_ms=200, max_records=1000)
        now = time.monotonic()
        for records in batches.values():
            for record in records:
                (stamp,) = _STAMP.unpack_from(record.value)
                if stamp:
                    latencies.append(now - stamp)
                seen += 1
