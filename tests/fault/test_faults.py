"""Fault tests: 500 inspections through the running platform while something breaks.

After each fault, every failed inspection has exactly one ledger entry and exactly one
rectification notice, no passed inspection has any, and score changes per household follow the
order of its inspections.

The tests share one platform (starting one costs as much as a test): each restores what it broke
before it starts (the broker, the database, one process per service, see `platform` below) and
streams to 40 households of its own, and the accounting reads only those households. In file
order, the cheapest: the replay (of everything on the topics) first, the extra replicas (which
the next test would stop) last.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from conftest import migrated_databases
from linli_shared.contracts import topics
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.operations import KafkaOperations
from tests.conftest import SharedPlatform, platform_environment, running_platform
from tests.support.events import group_lag
from tests.support.infra import KafkaService, PostgresService, free_port
from tests.support.platform import Platform
from tests.support.polling import eventually
from tests.support.smtp import SmtpSink
from tests.support.stream import (
    Stream,
    account,
    assert_exactly_once,
    plan,
    post_stream,
    register_households,
    settle,
)

INSPECTIONS = 500
HOUSEHOLDS = 40


@pytest.fixture(scope="module")
async def faults_platform(
    kafka: KafkaService, postgres: PostgresService, migrated_templates: dict[str, str]
) -> AsyncIterator[SharedPlatform]:
    sink = SmtpSink(free_port())
    sink.start()
    namespace = f"t{uuid.uuid4().hex[:8]}."
    try:
        async with running_platform(
            platform_environment(kafka, namespace, sink),
            migrated_databases(postgres, migrated_templates),
        ) as running:
            yield SharedPlatform(running, namespace, sink)
    finally:
        sink.stop()


@pytest.fixture
def platform(
    faults_platform: SharedPlatform, kafka: KafkaService, postgres: PostgresService
) -> Platform:
    """The module's platform with the broker and the database up and one ready API and worker
    per service, whatever the test before stopped, killed or added."""
    kafka.start()
    postgres.start()
    faults_platform.platform.restore()
    return faults_platform.platform


@pytest.fixture
def kafka_namespace(faults_platform: SharedPlatform) -> str:
    return faults_platform.namespace


async def _prepared(http: httpx.AsyncClient, platform: Platform, seed: int) -> Stream:
    stream = await register_households(http, platform, HOUSEHOLDS)
    plan(stream, INSPECTIONS, seed=seed)
    return stream


async def test_workers_killed_mid_batch_and_restarted(
    platform: Platform, http: httpx.AsyncClient, kafka: KafkaService, kafka_namespace: str
) -> None:
    stream = await _prepared(http, platform, seed=2)

    async def crash_workers() -> None:
        for _ in range(2):
            await asyncio.sleep(1.0)
            platform.workers["credit"].kill()
            platform.workers["notify"].kill()
            await asyncio.sleep(0.5)
            platform.workers["credit"].start()
            platform.workers["notify"].start()

    await post_stream(http, platform, stream, at=200, then=crash_workers)
    accounting = await settle(platform, kafka.bootstrap, kafka_namespace, stream)
    assert_exactly_once(stream, accounting)

    # Replay: rewind both groups to the beginning; re-consuming everything changes nothing.
    for service in ("credit", "notify"):
        platform.workers[service].stop()
        _linli(platform, "consumers", "reset", service)
        assert (
            await group_lag(
                kafka.bootstrap, kafka_namespace, f"linli-{service}", [topics.INSPECTIONS]
            )
            > 0
        ), "the reset rewound the group"
        platform.workers[service].start()
    for service in ("credit", "notify"):
        await eventually(
            lambda s=service: _caught_up(kafka.bootstrap, kafka_namespace, f"linli-{s}"),  # type: ignore[misc]
            f"{service} to re-consume every topic",
        )
    assert_exactly_once(stream, await account(platform, kafka.bootstrap, kafka_namespace, stream))


async def test_broker_stopped_and_restarted_mid_stream(
    platform: Platform, http: httpx.AsyncClient, kafka: KafkaService, kafka_namespace: str
) -> None:
    stream = await _prepared(http, platform, seed=1)

    async def broker_outage() -> None:
        await asyncio.to_thread(kafka.stop)
        await asyncio.sleep(3)
        await asyncio.to_thread(kafka.start)

    await post_stream(http, platform, stream, at=150, then=broker_outage)
    accounting = await settle(platform, kafka.bootstrap, kafka_namespace, stream)
    assert_exactly_once(stream, accounting)


async def test_database_restarted_mid_stream(
    platform: Platform,
    http: httpx.AsyncClient,
    kafka: KafkaService,
    kafka_namespace: str,
    postgres: PostgresService,
) -> None:
    stream = await _prepared(http, platform, seed=3)

    async def database_restart() -> None:
        await asyncio.to_thread(postgres.restart)

    await post_stream(http, platform, stream, at=150, then=database_restart)
    accounting = await settle(platform, kafka.bootstrap, kafka_namespace, stream)
    assert_exactly_once(stream, accounting)


async def test_duplicate_and_poison_records_are_absorbed(
    platform: Platform, http: httpx.AsyncClient, kafka: KafkaService, kafka_namespace: str
) -> None:
    stream = await _prepared(http, platform, seed=5)
    topic = kafka_namespace + topics.INSPECTIONS
    poison = _poison_records()

    async def inject() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
        await producer.start()
        try:
            # Duplicates: the stream's first 50 records in a partition, produced again as they are.
            for key, value in await _first_records(kafka.bootstrap, topic, stream, 50):
                await producer.send_and_wait(topic, value, key=key)
            for key, value in poison:
                await producer.send_and_wait(topic, value, key=key)
        finally:
            await producer.stop()

    await post_stream(http, platform, stream, at=250, then=inject)
    accounting = await settle(platform, kafka.bootstrap, kafka_namespace, stream)
    assert_exactly_once(stream, accounting)

    operations = KafkaOperations(kafka.bootstrap, kafka_namespace)
    # Every group reading the inspections stream: credit, notify, and the registry (erasures).
    readers = ("linli-credit", "linli-notify", "linli-registry")
    for group in readers:
        dead_topic = f"{topics.INSPECTIONS}.dlq.{group}"
        letters = await operations.read_dead_letters([dead_topic])
        reasons = sorted(letter.header("reason") for letter in letters)
        print(f"{group}: {len(letters)} dead letters {reasons}")
        assert sorted(letter.value for letter in letters) == sorted(v for _, v in poison)
        assert all(letter.header("source-topic") == topics.INSPECTIONS for letter in letters)
        assert all(letter.header("attempts") == "1" for letter in letters)

    listed = _linli(platform, "dlq", "list", "--group", "linli-credit")
    assert "4 dead letter(s) in" in listed
    assert "reason=malformed" in listed

    # Replay re-drives each dead letter once; still poison, they come back to the dead letters.
    assert f"replayed {4 * len(readers)} dead letter(s)" in _linli(platform, "dlq", "replay")
    assert "replayed 0 dead letter(s)" in _linli(platform, "dlq", "replay", "--group", "x")

    async def dead_lettered_again() -> bool:
        # Each group re-applies only its own dead letters: 4 come back to each group's topic.
        for group in readers:
            letters = await operations.read_dead_letters([f"{topics.INSPECTIONS}.dlq.{group}"])
            replayed = [letter for letter in letters if "linli-replayed-from" in letter.headers]
            if len(replayed) != 4:
                return False
        return True

    await eventually(dead_lettered_again, "replayed poison to be dead-lettered again")
    assert_exactly_once(stream, await account(platform, kafka.bootstrap, kafka_namespace, stream))


async def test_one_of_two_worker_replicas_stops_mid_stream(
    platform: Platform, http: httpx.AsyncClient, kafka: KafkaService, kafka_namespace: str
) -> None:
    replicas = [platform.spawn_worker("credit"), platform.spawn_worker("notify")]
    stream = await _prepared(http, platform, seed=4)

    async def stop_one_replica() -> None:
        await asyncio.to_thread(platform.workers["credit"].stop)
        await asyncio.to_thread(platform.workers["notify"].stop)

    await post_stream(http, platform, stream, at=200, then=stop_one_replica)
    assert all(replica.running for replica in replicas)
    for stopped in (platform.workers["credit"], platform.workers["notify"]):
        assert stopped.process is not None and stopped.process.returncode == 0, (
            "SIGTERM drains and exits cleanly"
        )
    accounting = await settle(platform, kafka.bootstrap, kafka_namespace, stream)
    assert_exactly_once(stream, accounting)


def _linli(platform: Platform, *args: str) -> str:
    """Run the operator CLI against the platform's Kafka, as an operator would."""
    result = subprocess.run(
        [sys.executable, "-m", "linli", *args],
        env={**os.environ, **platform.env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


async def _caught_up(bootstrap: str, namespace: str, group: str) -> bool:
    return await group_lag(bootstrap, namespace, group, [topics.INSPECTIONS, topics.REGISTRY]) == 0


def _poison_records() -> list[tuple[bytes, bytes]]:
    key = str(uuid.uuid4()).encode()
    unknown = Envelope(
        id=str(uuid.uuid4()),
        type="linli.inspections.inspection.teleported.v1",
        source="/linli/inspections",
        subject=key.decode(),
        time=datetime.now(UTC),
        data={"inspection_id": str(uuid.uuid4())},
        correlation_id="poison",
    )
    missing_fields = Envelope(
        id=str(uuid.uuid4()),
        type="linli.inspections.inspection.failed.v1",
        source="/linli/inspections",
        subject=key.decode(),
        time=unknown.time,
        data={"inspection_id": str(uuid.uuid4()), "checklist": "sanitation"},
        correlation_id="poison",
    )
    return [
        (key, b"{not json"),
        (key, json.dumps(["a", "list"]).encode()),
        (key, unknown.to_json()),
        (key, missing_fields.to_json()),
    ]


async def _first_records(
    bootstrap: str, topic: str, stream: Stream, count: int
) -> list[tuple[bytes, bytes]]:
    """The first `count` records of the stream's households in partition 0."""
    households = {household.encode() for household in stream.households}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        records: list[tuple[bytes, bytes]] = []
        while len(records) < count:
            batch = await consumer.getmany(partition, timeout_ms=1000, max_records=count)
            read = batch.get(partition, [])
            if not read:
                break
            records.extend((r.key, r.value) for r in read if r.key in households and r.value)
        return records[:count]
    finally:
        await consumer.stop()
