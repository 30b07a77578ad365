"""Fixtures for cross-service tests: SMTP sink, the platform as processes, dev tokens."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from conftest import REPO, MigratedDatabase, migrated_databases
from linli.services import SERVICES as DEFINITIONS
from linli_shared.auth import mint_dev_token
from linli_shared.settings import PlatformSettings
from tests.support.infra import KafkaService, PostgresService, free_port
from tests.support.platform import SERVICES, Platform
from tests.support.smtp import SmtpSink


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink(free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def platform_env(kafka: KafkaService, kafka_namespace: str, smtp_sink: SmtpSink) -> dict[str, str]:
    return platform_environment(kafka, kafka_namespace, smtp_sink)


def platform_environment(kafka: KafkaService, namespace: str, sink: SmtpSink) -> dict[str, str]:
    return {
        "LINLI_ENVIRONMENT": "test",
        "LINLI_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "LINLI_KAFKA_NAMESPACE": namespace,
        "LINLI_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "LINLI_CONSUMER_INITIAL_BACKOFF_SECONDS": "0.05",
        "LINLI_CONSUMER_MAX_BACKOFF_SECONDS": "1",
        # The APIs measure lag and backlog this often (production: 15 s), so tests see it soon.
        "LINLI_BACKLOG_PROBE_INTERVAL_SECONDS": "2",
        "LINLI_NOTIFY_SMTP_HOST": "127.0.0.1",
        "LINLI_NOTIFY_SMTP_PORT": str(sink.port),
    }


@pytest.fixture
async def platform(
    platform_env: dict[str, str], migrated_database: MigratedDatabase
) -> AsyncIterator[Platform]:
    async with running_platform(platform_env, migrated_database) as running:
        yield running


@pytest.fixture(scope="module")
async def module_platform(
    kafka: KafkaService, postgres: PostgresService, migrated_templates: dict[str, str]
) -> AsyncIterator[Platform]:
    """The platform started once for a module whose tests do not disturb each other (they make
    their own households and read only what they made)."""
    sink = SmtpSink(free_port())
    sink.start()
    try:
        env = platform_environment(kafka, f"t{uuid.uuid4().hex[:8]}.", sink)
        databases = migrated_databases(postgres, migrated_templates)
        async with running_platform(env, databases) as running:
            yield running
    finally:
        sink.stop()


@asynccontextmanager
async def running_platform(
    platform_env: dict[str, str], migrated_database: MigratedDatabase
) -> AsyncIterator[Platform]:
    env = dict(platform_env)
    for service in SERVICES:
        database_url = await migrated_database(DEFINITIONS[service])
        env[f"LINLI_{service.upper()}_DATABASE_URL"] = database_url
    base = REPO / ".local" / "test-runs"
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base) as work_dir:
        running = Platform(Path(work_dir), env)
        try:
            running.start()
            yield running
        finally:
            running.stop()
            # Shown by pytest only when the test failed: what each process said last.
            print(running.logs())


def bearer(*roles: str, subject: str = "tester", grids: Sequence[str] = ()) -> dict[str, str]:
    token = mint_dev_token(PlatformSettings(), subject, list(roles), grids)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15) as client:
        yield client
