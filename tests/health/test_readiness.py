"""`/readyz` of APIs and workers, for real, naming each check.

An API is ready when its database answers at the head of its migrations (the broker is the
outbox relay's business: a broker outage must not stop HTTP); a worker when its database, the
broker and its consumer groups are, and its `linli_broker_up` metric says whether the broker is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from sqlalchemy import select, text

from conftest import CreateDatabase, MigratedDatabase
from linli.embedded import create_embedded_app
from linli_credit.app import DEFINITION as CREDIT
from linli_credit.app import create_app as create_credit_app
from linli_credit.app import create_worker
from linli_credit.settings import CreditSettings
from linli_registry.adapters import tables as registry_tables
from linli_registry.app import DEFINITION as REGISTRY
from linli_registry.app import create_app
from linli_registry.settings import RegistrySettings
from linli_shared.auth import mint_dev_token
from linli_shared.db import Database
from linli_shared.health import CachedCheck, health_router
from linli_shared.messaging.embedded import EmbeddedTransport
from linli_shared.migrations import alembic_config, upgrade
from linli_shared.settings import PlatformSettings
from tests.support.api import api_client
from tests.support.infra import KafkaService, free_port
from tests.support.polling import eventually

STAFF = {
    "Authorization": "Bearer "
    + mint_dev_token(PlatformSettings(), "tester", ["community_staff"], ["g-07"])
}
HOUSEHOLD = {
    "community_id": "c-xingfu",
    "grid_id": "g-07",
    "address": "幸福路 1 号 2 栋 301",
    "members": [{"name": "张三", "relation": "head"}],
    "contact_email": "zhang@example.com",
}


async def _readyz(app: FastAPI) -> httpx.Response:
    async with api_client(app) as client:
        return await client.get("/readyz")


async def test_an_api_is_ready_when_its_database_answers_at_the_migration_head(
    migrated_database: MigratedDatabase,
) -> None:
    url = await migrated_database(REGISTRY)
    response = await _readyz(create_app(RegistrySettings(database_url=url)))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "checks": {"database": {"status": "ok"}, "schema": {"status": "ok"}},
    }


async def test_an_api_is_not_ready_while_its_database_is_at_an_older_revision(
    create_database: CreateDatabase,
) -> None:
    url = await create_database("linli_readiness")
    script = ScriptDirectory.from_config(alembic_config(REGISTRY.migrations_dir, url))
    (head,) = script.get_heads()
    previous = script.get_revision(head).down_revision
    assert isinstance(previous, str)
    await asyncio.to_thread(upgrade, REGISTRY.migrations_dir, url, previous)

    response = await _readyz(create_app(RegistrySettings(database_url=url)))
    assert response.status_code == 503, response.text
    checks = response.json()["checks"]
    assert checks["database"] == {"status": "ok"}
    assert checks["schema"]["status"] == "failed"
    assert previous in checks["schema"]["error"]
    assert head in checks["schema"]["error"]


async def test_an_api_whose_broker_refuses_is_ready_and_its_writes_wait_in_the_outbox(
    migrated_database: MigratedDatabase,
) -> None:
    url = await migrated_database(REGISTRY)
    refused = PlatformSettings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    app = create_app(RegistrySettings(database_url=url, platform=refused))
    async with api_client(app) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        created = await client.post("/v1/households", json=HOUSEHOLD, headers=STAFF)
        assert created.status_code == 201, created.text
    database = Database(url)
    try:
        async with database.connect() as connection:
            queued = await connection.execute(select(registry_tables.outbox.c.event_type))
            assert "linli.registry.household.registered.v1" in list(queued.scalars())
    finally:
        await database.dispose()


async def test_an_api_is_not_ready_when_its_database_refuses() -> None:
    settings = RegistrySettings(
        database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    )
    response = await _readyz(create_app(settings))
    assert response.status_code == 503, response.text
    checks = response.json()["checks"]
    assert checks["database"]["status"] == "failed"
    assert checks["schema"]["status"] == "failed"


@pytest.fixture
async def worker_settings(
    migrated_database: MigratedDatabase, kafka: KafkaService, kafka_namespace: str
) -> CreditSettings:
    database_url = await migrated_database(CREDIT)
    platform = PlatformSettings(
        kafka_bootstrap_servers=kafka.bootstrap,
        kafka_namespace=kafka_namespace,
        kafka_session_timeout_ms=6000,
    )
    return CreditSettings(database_url=database_url, platform=platform)


@pytest.fixture
async def worker_probe(worker_settings: CreditSettings) -> AsyncIterator[httpx.AsyncClient]:
    worker = create_worker(worker_settings)
    health = worker.health_app()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=health), base_url="http://worker"
    ) as client:
        not_started = await client.get("/readyz")
        assert not_started.status_code == 503, "a worker that consumes nothing is not ready"
        assert not_started.json()["checks"]["consumers"]["status"] == "failed"
        running = asyncio.create_task(worker.run())
        try:
            yield client
        finally:
            worker.stop_event.set()
            await running


async def test_a_worker_is_ready_once_its_consumers_joined_their_groups(
    worker_probe: httpx.AsyncClient,
) -> None:
    async def ready() -> httpx.Response | None:
        response = await worker_probe.get("/readyz")
        return response if response.status_code == 200 else None

    response = await eventually(ready, "the credit worker to be ready")
    assert response.json() == {
        "status": "ready",
        "checks": {
            "database": {"status": "ok"},
            "broker": {"status": "ok"},
            "consumers": {"status": "ok"},
        },
    }
    assert (await worker_probe.get("/healthz")).json() == {"status": "ok"}
    metrics = (await worker_probe.get("/metrics")).text
    assert "linli_events_consumed_total" in metrics
    assert 'linli_broker_up{service="credit"} 1.0' in metrics


async def test_a_worker_is_not_ready_without_the_broker_and_its_metrics_say_so(
    migrated_database: MigratedDatabase,
) -> None:
    refused = PlatformSettings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    settings = CreditSettings(database_url=await migrated_database(CREDIT), platform=refused)
    health = create_worker(settings).health_app()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=health), base_url="http://worker"
    ) as client:
        response = await client.get("/readyz")
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 503, response.text
    checks = response.json()["checks"]
    assert checks["database"] == {"status": "ok"}
    assert checks["broker"]["status"] == "failed"
    assert checks["broker"]["error"]
    assert 'linli_broker_up{service="credit"} 0.0' in metrics


async def test_a_broker_check_is_cached_for_a_few_seconds() -> None:
    now = [0.0]
    calls = []

    async def failing() -> None:
        calls.append(now[0])
        raise ConnectionError("refused")

    check = CachedCheck(failing, seconds=5, clock=lambda: now[0])
    for moment in (0.0, 4.9, 5.0):
        now[0] = moment
        with pytest.raises(ConnectionError):
            await check()
    assert calls == [0.0, 5.0]


async def test_each_readiness_check_outcome_is_exported_for_alerting() -> None:
    async def answers() -> None:
        return None

    async def refuses() -> None:
        raise ConnectionError("refused")

    app = FastAPI()
    app.include_router(health_router({"probe-db": answers, "probe-broker": refuses}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        assert (await client.get("/readyz")).status_code == 503
        metrics = (await client.get("/metrics")).text

    assert 'linli_readiness{check="probe-db"} 1.0' in metrics
    assert 'linli_readiness{check="probe-broker"} 0.0' in metrics


async def test_embedded_readiness_names_each_services_checks_and_the_event_log(
    tmp_path: Path,
) -> None:
    platform = PlatformSettings(transport="embedded", embedded_log_path=tmp_path / "events.db")
    registry_url = f"sqlite:///{tmp_path / 'registry.db'}"
    await asyncio.to_thread(upgrade, REGISTRY.migrations_dir, registry_url)
    apps = {
        "registry": create_app(RegistrySettings(database_url=registry_url, platform=platform)),
        "credit": create_credit_app(
            CreditSettings(database_url=f"sqlite:///{tmp_path / 'credit.db'}", platform=platform)
        ),
    }
    event_log = EmbeddedTransport(tmp_path / "events.db", "linli-readiness")

    response = await _readyz(create_embedded_app(apps, {"event_log": event_log.ping}))

    assert response.status_code == 503, response.text
    checks = response.json()["checks"]
    assert set(checks) == {
        "registry.database",
        "registry.schema",
        "credit.database",
        "credit.schema",
        "event_log",
    }
    failed = {name for name, check in checks.items() if check["status"] == "failed"}
    assert failed == {"credit.schema"}, checks
    assert "linli migrate" in checks["credit.schema"]["error"]


async def test_an_api_of_the_previous_release_stays_ready_on_a_schema_migrated_past_it(
    migrated_database: MigratedDatabase,
) -> None:
    url = await migrated_database(REGISTRY)
    database = Database(url)
    try:
        async with database.transaction() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = 'next1'"))
    finally:
        await database.dispose()
    response = await _readyz(create_app(RegistrySettings(database_url=url)))
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["schema"] == {"status": "ok"}
