"""Consumer lag and the outbox backlog are measured from outside the workers: from the broker's
committed and end offsets (or the embedded log's) and the outbox table, so they are reported
while no member of a group runs, and a broker that does not answer is said, not guessed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY
from sqlalchemy import insert

from conftest import MigratedDatabase
from linli_registry.adapters import tables
from linli_registry.app import DEFINITION
from linli_shared.clock import FixedClock
from linli_shared.db import Database
from linli_shared.messaging.backlog import BacklogProbe, LagSource
from linli_shared.messaging.embedded import EmbeddedTransport, open_log, partition_for
from linli_shared.messaging.kafka import KafkaTransport
from linli_shared.messaging.operations import KafkaOperations
from linli_shared.messaging.records import OutgoingRecord, PartitionLag
from tests.support.infra import KafkaService, free_port

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TOPIC = "linli.probe.v1"


@pytest.fixture
async def database(migrated_database: MigratedDatabase) -> AsyncIterator[Database]:
    database = Database(await migrated_database(DEFINITION))
    yield database
    await database.dispose()


@pytest.fixture
def group() -> str:
    return f"linli-probe-{uuid.uuid4().hex[:8]}"


def _records(keys: Sequence[str]) -> list[OutgoingRecord]:
    return [OutgoingRecord(topic=TOPIC, key=key, value=b"{}") for key in keys]


async def _publish_to_kafka(kafka: KafkaService, namespace: str, keys: Sequence[str]) -> None:
    transport = KafkaTransport(kafka.bootstrap, "probe-test", partitions=1, namespace=namespace)
    await transport.start()
    try:
        await transport.ensure_topics([TOPIC])
        await transport.send(_records(keys))
    finally:
        await transport.stop()


async def _commit(kafka: KafkaService, namespace: str, group: str, offset: int) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap, group_id=namespace + group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partition = TopicPartition(namespace + TOPIC, 0)
        consumer.assign([partition])
        await consumer.commit({partition: offset})
    finally:
        await consumer.stop()


async def _outbox_row(database: Database, age: timedelta, sent: bool) -> None:
    async with database.transaction() as connection:
        await connection.execute(
            insert(tables.outbox).values(
                event_id=str(uuid.uuid4()),
                topic="linli.registry.v1",
                partition_key="k",
                event_type="linli.registry.household.registered.v1",
                payload=b"{}",
                created_at=NOW - age,
                published_at=NOW if sent else None,
            )
        )


def _sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


class Switchable:
    """A lag source that can be pointed at another broker between measurements."""

    def __init__(self, source: LagSource) -> None:
        self.source = source

    async def consumer_lag(self, groups: Mapping[str, Sequence[str]]) -> list[PartitionLag]:
        return await self.source.consumer_lag(groups)


async def test_lag_of_a_group_with_no_member_running_is_read_from_the_brokers_offsets(
    kafka: KafkaService, kafka_namespace: str, database: Database, group: str
) -> None:
    await _publish_to_kafka(kafka, kafka_namespace, ["a"] * 7)
    operations = KafkaOperations(kafka.bootstrap, kafka_namespace)

    never_consumed = await operations.consumer_lag({group: [TOPIC]})
    assert never_consumed == [PartitionLag(group, TOPIC, 0, position=0, end=7)]

    await _commit(kafka, kafka_namespace, group, 3)
    probe = BacklogProbe(
        service="registry",
        database=database,
        outbox=tables.outbox,
        lag_source=operations,
        groups={group: [TOPIC]},
        interval=1,
        clock=FixedClock(NOW),
    )
    await probe.measure()

    labels = {"group": group, "topic": TOPIC, "partition": "0"}
    assert _sample("linli_consumer_lag", **labels) == 4
    assert _sample("linli_consumer_offset", **labels) == 3
    assert _sample("linli_backlog_probe_success", service="registry", source="consumers") == 1
    assert (
        _sample("linli_backlog_probe_timestamp_seconds", service="registry", source="consumers")
        == NOW.timestamp()
    )


async def test_the_outbox_backlog_counts_unpublished_events_and_the_oldest_ones_age(
    database: Database, group: str, tmp_path: Path
) -> None:
    await _outbox_row(database, timedelta(seconds=90), sent=False)
    await _outbox_row(database, timedelta(seconds=30), sent=False)
    await _outbox_row(database, timedelta(seconds=600), sent=True)
    probe = BacklogProbe(
        service="registry",
        database=database,
        outbox=tables.outbox,
        lag_source=EmbeddedTransport(tmp_path / "events.db", "probe-test"),
        groups={group: [TOPIC]},
        interval=1,
        clock=FixedClock(NOW),
    )
    await probe.measure()

    assert _sample("linli_outbox_backlog", service="registry") == 2
    assert _sample("linli_outbox_oldest_age_seconds", service="registry") == 90
    assert _sample("linli_backlog_probe_success", service="registry", source="outbox") == 1


async def test_a_broker_that_does_not_answer_is_reported_and_its_lag_series_withdrawn(
    kafka: KafkaService, kafka_namespace: str, database: Database, group: str
) -> None:
    await _publish_to_kafka(kafka, kafka_namespace, ["a"] * 2)
    source = Switchable(KafkaOperations(kafka.bootstrap, kafka_namespace))
    probe = BacklogProbe(
        service="registry",
        database=database,
        outbox=tables.outbox,
        lag_source=source,
        groups={group: [TOPIC]},
        interval=1,
        timeout=5,
        clock=FixedClock(NOW),
    )
    await probe.measure()
    labels = {"group": group, "topic": TOPIC, "partition": "0"}
    assert _sample("linli_consumer_lag", **labels) == 2

    source.source = KafkaOperations(f"127.0.0.1:{free_port()}", kafka_namespace)
    await probe.measure()  # does not raise

    assert _sample("linli_backlog_probe_success", service="registry", source="consumers") == 0
    assert _sample("linli_consumer_lag", **labels) is None, "unknown is not zero"
    assert _sample("linli_consumer_offset", **labels) is None
    assert _sample("linli_backlog_probe_success", service="registry", source="outbox") == 1


async def test_embedded_lag_counts_from_the_groups_committed_offset_in_the_log(
    tmp_path: Path, group: str
) -> None:
    transport = EmbeddedTransport(tmp_path / "events.db", "probe-test", partitions=2)
    await transport.start()
    try:
        await transport.ensure_topics([TOPIC])
        await transport.send(_records(["a"] * 5))
        async with open_log(tmp_path / "events.db") as event_log:
            await event_log.commit(group, (TOPIC, partition_for("a", 2)), 2)
        lags = await transport.consumer_lag({group: [TOPIC]})
    finally:
        await transport.stop()

    written = partition_for("a", 2)
    assert sorted(lags, key=lambda lag: lag.partition) == [
        PartitionLag(group, TOPIC, p, position=2, end=5)
        if p == written
        else PartitionLag(group, TOPIC, p, position=0, end=0)
        for p in range(2)
    ]
    assert sum(lag.lag for lag in lags) == 3
