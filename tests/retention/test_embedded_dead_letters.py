"""Dead letters keep the consuming service's `dead_letters` period wherever they are. In the
embedded event log of `linli run`, which no broker expires, the worker's retention job deletes
exactly those past it (each partition's newest record stays, numbering the next) and leaves the
streams alone; on Kafka, a dead-letter topic a worker creates gets it as its retention.ms."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from conftest import MigratedDatabase
from linli_notify.adapters import tables
from linli_notify.app import DEFINITION, build_use_cases, retention_job
from linli_notify.consumers import subscriptions
from linli_notify.settings import NotifySettings
from linli_shared.clock import FixedClock
from linli_shared.contracts import topics
from linli_shared.contracts.topics import dead_letter_topic
from linli_shared.db import Database
from linli_shared.messaging.embedded import EmbeddedTransport
from linli_shared.messaging.kafka import KafkaTransport
from linli_shared.messaging.records import OutgoingRecord
from linli_shared.service import build_worker
from linli_shared.settings import PlatformSettings
from tests.support.infra import KafkaService

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PERIOD = timedelta(days=14)  # dead_letters in notify's policy 2026.1
DEAD = dead_letter_topic(topics.INSPECTIONS, "linli-notify")


async def _append(log: Path, topic: str, key: str, appended_at: datetime) -> None:
    transport = EmbeddedTransport(log, "test")
    await transport.start()
    await transport.send([OutgoingRecord(topic, key, b"{}", {})])
    await transport.stop()
    with sqlite3.connect(log) as db:
        db.execute(
            'UPDATE records SET appended_at = ? WHERE topic = ? AND "offset" = '
            '(SELECT MAX("offset") FROM records WHERE topic = ?)',
            (appended_at.isoformat(), topic, topic),
        )


def _offsets(log: Path, topic: str) -> list[int]:
    with sqlite3.connect(log) as db:
        rows = db.execute('SELECT "offset" FROM records WHERE topic = ? ORDER BY 1', (topic,))
        return [int(offset) for (offset,) in rows]


async def test_the_worker_deletes_exactly_the_dead_letters_past_the_period(
    tmp_path: Path, any_migrated_database: MigratedDatabase
) -> None:
    log = tmp_path / "events.db"
    # One key: one partition, offsets 0..3.
    for age in (PERIOD * 3, PERIOD + timedelta(minutes=1), PERIOD - timedelta(minutes=1)):
        await _append(log, DEAD, "household-1", NOW - age)
    await _append(log, topics.INSPECTIONS, "household-1", NOW - PERIOD * 3)
    url = await any_migrated_database(DEFINITION)
    database = Database(url)
    settings = NotifySettings(
        database_url=url,
        platform=PlatformSettings(transport="embedded", embedded_log_path=log),
    )
    retention = retention_job(database, settings, FixedClock(NOW))
    build_worker(
        "notify",
        settings,
        database,
        tables.outbox,
        tables.inbox,
        subscriptions(build_use_cases(database, settings)),
        retention,
    )
    try:
        run = await retention.run_once()
    finally:
        await database.dispose()

    assert run.counts["dead_letters"] == 2
    assert _offsets(log, DEAD) == [2]
    assert _offsets(log, topics.INSPECTIONS) == [0], "streams are not the policy's"


async def test_the_newest_dead_letter_of_a_partition_stays_so_offsets_continue(
    tmp_path: Path,
) -> None:
    log = tmp_path / "events.db"
    for _ in range(3):
        await _append(log, DEAD, "household-1", NOW - PERIOD * 2)
    transport = EmbeddedTransport(log, "test")

    assert await transport.delete_before([DEAD], NOW - PERIOD) == 2
    assert _offsets(log, DEAD) == [2]
    await _append(log, DEAD, "household-1", NOW)
    assert _offsets(log, DEAD) == [2, 3]


@pytest.mark.servers
async def test_a_dead_letter_topic_a_worker_creates_on_kafka_keeps_records_for_the_period(
    kafka: KafkaService, kafka_namespace: str
) -> None:
    """Outside Kubernetes (Compose, a local broker) workers create their topics: a dead-letter
    topic gets the policy's period as its retention.ms, a stream the broker's default."""
    transport = KafkaTransport(
        kafka.bootstrap,
        "retention-test",
        namespace=kafka_namespace,
        dead_letter_retention_ms=int(PERIOD.total_seconds() * 1000),
    )
    await transport.ensure_topics([DEAD, topics.INSPECTIONS])
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, kafka_namespace + name)
                for name in (DEAD, topics.INSPECTIONS)
            ]
        )
    finally:
        await admin.close()
    # (error code, error message, resource type, name, [(config name, value, …), …])
    retention = {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}["retention.ms"]
        for resource in response.resources
    }
    assert retention[kafka_namespace + DEAD] == str(14 * 24 * 3600 * 1000)
    assert retention[kafka_namespace + topics.INSPECTIONS] != retention[kafka_namespace + DEAD]
