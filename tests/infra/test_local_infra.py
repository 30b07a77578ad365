"""Real tests of the Docker-free local infrastructure (deploy/local/*.sh via tests.support.infra).

They start an actual Kafka broker and PostgreSQL cluster in a temporary directory, so they
need Java 17 and either PostgreSQL or root (apt-get); the first run downloads the Kafka jars.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped,unused-ignore]
from aiokafka.structs import TopicPartition  # type: ignore[import-untyped,unused-ignore]

from tests.support.infra import (
    ExternalKafka,
    ExternalPostgres,
    LocalKafka,
    LocalPostgres,
    free_port,
    kafka_ready,
    postgres_ready,
    start_kafka,
    start_postgres,
)

pytestmark = pytest.mark.servers  # starts, stops and kills Kafka and PostgreSQL of its own

_TIMEOUT_S = 60.0


async def _produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, value, key=b"k"), _TIMEOUT_S)
    finally:
        await producer.stop()


async def _read_all(bootstrap: str, topic: str) -> list[bytes]:
    """Every value in ``topic`` from the beginning up to the end offsets seen at assignment."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,  # no group: all partitions are assigned directly
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _TIMEOUT_S
        values: list[bytes] = []
        end: dict[TopicPartition, int] | None = None
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for tp in sorted(batch, key=lambda tp: tp.partition):
                values.extend(msg.value for msg in batch[tp])
            assigned = consumer.assignment()
            if assigned:
                if end is None:
                    end = await consumer.end_offsets(list(assigned))
                positions = {tp: await consumer.position(tp) for tp in assigned}
                if all(positions[tp] >= end[tp] for tp in assigned):
                    return values
            if loop.time() > deadline:
                raise AssertionError(f"could not read {topic} to its end: got {values}")
    finally:
        await consumer.stop()


def test_kafka_message_survives_stop_and_kill(tmp_path: Path) -> None:
    kafka = LocalKafka(tmp_path / "kafka")
    kafka.start()
    try:
        host, port = kafka.bootstrap.split(":")
        assert host == "127.0.0.1"
        assert kafka_ready(host, int(port))
        topic = f"infra-{uuid.uuid4().hex[:8]}"

        first = b"before-graceful-restart"
        asyncio.run(_produce(kafka.bootstrap, topic, first))
        assert asyncio.run(_read_all(kafka.bootstrap, topic)) == [first]

        kafka.restart()  # SIGTERM + start on the same ports
        assert asyncio.run(_read_all(kafka.bootstrap, topic)) == [first]

        second = b"before-crash"
        asyncio.run(_produce(kafka.bootstrap, topic, second))
        kafka.kill()  # SIGKILL
        assert not kafka_ready(host, int(port), timeout=0.5)
        kafka.kill()  # idempotent
        kafka.start()
        assert asyncio.run(_read_all(kafka.bootstrap, topic)) == [first, second]

        kafka.stop()
        kafka.stop()  # idempotent
        assert not kafka_ready(host, int(port), timeout=0.5)
    finally:
        kafka.close()


async def _pg_query(url: str, sql: str) -> list[tuple[object, ...]]:
    conn = await asyncpg.connect(url, timeout=_TIMEOUT_S)
    try:
        return [tuple(row) for row in await conn.fetch(sql)]
    finally:
        await conn.close()


async def _pg_execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url, timeout=_TIMEOUT_S)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def test_postgres_survives_restart_and_crash(tmp_path: Path) -> None:
    pg = LocalPostgres(tmp_path / "pg")
    pg.start()
    try:
        assert pg.url.startswith("postgresql://postgres@127.0.0.1:")
        assert asyncio.run(_pg_query(pg.url, "SELECT 1")) == [(1,)]
        asyncio.run(_pg_execute(pg.url, "CREATE TABLE t (v text); INSERT INTO t VALUES ('a')"))

        pg.restart()
        assert asyncio.run(_pg_query(pg.url, "SELECT 1")) == [(1,)]
        assert asyncio.run(_pg_query(pg.url, "SELECT v FROM t")) == [("a",)]

        pg.kill()  # immediate shutdown: crash recovery on the next start
        assert not postgres_ready("127.0.0.1", pg.port, timeout=0.5)
        pg.start()
        assert asyncio.run(_pg_query(pg.url, "SELECT v FROM t")) == [("a",)]
        listen = asyncio.run(_pg_query(pg.url, "SHOW listen_addresses"))
        assert listen == [("127.0.0.1",)]

        pg.stop()
        pg.stop()  # idempotent
        assert not postgres_ready("127.0.0.1", pg.port, timeout=0.5)

        data = (tmp_path / "pg" / "data").resolve()
        pg.close()  # removes a cluster kept outside state_dir (see postgres.sh)
        assert data.is_relative_to(tmp_path) or not data.exists()
    finally:
        pg.close()


def test_external_services_refuse_faults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    monkeypatch.setenv("LINLI_TEST_KAFKA_BOOTSTRAP", bootstrap)
    monkeypatch.setenv("LINLI_TEST_DATABASE_URL", url)

    kafka = start_kafka(tmp_path)
    pg = start_postgres(tmp_path)
    assert isinstance(kafka, ExternalKafka)
    assert isinstance(pg, ExternalPostgres)
    assert (kafka.bootstrap, pg.url) == (bootstrap, url)
    assert not kafka.supports_faults
    assert not pg.supports_faults
    for action in (kafka.start, kafka.stop, kafka.restart, pg.start, pg.stop, pg.restart):
        with pytest.raises(NotImplementedError):
            action()
    kafka.close()
    pg.close()
    assert list(tmp_path.iterdir()) == []
