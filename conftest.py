"""Session-wide test infrastructure: a real Kafka broker and a real PostgreSQL.

Started once per test run (local processes from deploy/local, or testcontainers where a Docker
engine answers, or external ones named by LINLI_TEST_KAFKA_BOOTSTRAP / LINLI_TEST_DATABASE_URL).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.support.infra import KafkaService, PostgresService, start_kafka, start_postgres

REPO = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def infra_dir() -> Iterator[Path]:
    base = REPO / ".local" / "test-infra"
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base) as directory:
        yield Path(directory)


@pytest.fixture(scope="session")
def kafka(infra_dir: Path) -> Iterator[KafkaService]:
    service = start_kafka(infra_dir)
    yield service
    service.close()


@pytest.fixture(scope="session")
def postgres(infra_dir: Path) -> Iterator[PostgresService]:
    service = start_postgres(infra_dir)
    yield service
    service.close()


CreateDatabase = Callable[[str], Awaitable[str]]


@pytest.fixture
async def create_database(postgres: PostgresService) -> CreateDatabase:
    """Create a fresh, empty database; returns its URL."""

    async def create(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        admin_url = make_url(postgres.url)
        connection = await asyncpg.connect(
            host=admin_url.host,
            port=admin_url.port,
            user=admin_url.username,
            password=admin_url.password,
            database=admin_url.database or "postgres",
        )
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return admin_url.set(database=name).render_as_string(hide_password=False)

    return create


@pytest.fixture
def kafka_namespace() -> str:
    """A topic/group namespace of its own for each test, on the shared broker."""
    return f"t{uuid.uuid4().hex[:8]}."


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("LINLI_ENVIRONMENT", "test")
