"""`/readyz` of APIs and workers checks the database and the broker for real, naming each check."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from conftest import CreateDatabase, MigratedDatabase
from linli_credit.app import DEFINITION as CREDIT
from linli_credit.app import create_worker
from linli_credit.settings import CreditSettings
from linli_registry.app import create_app
from linli_registry.settings import RegistrySettings
from linli_shared.health import CachedCheck, health_router
from linli_shared.settings import PlatformSettings
from tests.support.api import api_client
from tests.support.infra import KafkaService, free_port
from tests.support.polling import eventually


async def _readyz(app: FastAPI) -> httpx.Response:
    async with api_client(app) as client:
        return await client.get("/readyz")


@pytest.fixture
async def database_url(create_database: CreateDatabase) -> str:
    return await create_database("linli_readiness")


async def test_an_api_is_ready_when_its_database_and_broker_answer(
    database_url: str, kafka: KafkaService
) -> None:
    platform = PlatformSettings(kafka_bootstrap_servers=kafka.bootstrap)
    response = await _readyz(
        create_app(RegistrySettings(database_url=database_url, platform=platform))
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "checks": {"database": {"status": "ok"}, "broker": {"status": "ok"}},
    }


async def test_an_api_is_not_ready_when_the_broker_refuses(
    database_url: str,
) -> None:
    refused = PlatformSettings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    response = await _readyz(
        create_app(RegistrySettings(database_url=database_url, platform=refused))
    )
    assert response.status_code == 503, response.text
    checks = response.json()["checks"]
    assert checks["database"] == {"status": "ok"}
    assert checks["broker"]["status"] == "failed"
    assert checks["broker"]["error"]


async def test_an_api_is_not_ready_when_its_database_refuses(kafka: KafkaService) -> None:
    settings = RegistrySettings(
        database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere",
        platform=PlatformSettings(kafka_bootstrap_servers=kafka.bootstrap),
    )
    response = await _readyz(create_app(settings))
    assert response.status_code == 503, response.text
    checks = response.json()["checks"]
    assert checks["database"]["status"] == "failed"
    assert checks["broker"] == {"status": "ok"}


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
    assert "linli_events_consumed_total" in (await worker_probe.get("/metrics")).text


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
