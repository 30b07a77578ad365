"""Session-wide test infrastructure: a real Kafka broker and a real PostgreSQL.

Started once per test run (local processes from deploy/local, or testcontainers where a Docker
engine answers, or external ones named by LINLI_TEST_KAFKA_BOOTSTRAP / LINLI_TEST_DATABASE_URL).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from linli_shared.migrations import upgrade
from linli_shared.service import ServiceDefinition
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
MigratedDatabase = Callable[[ServiceDefinition], Awaitable[str]]


async def _new_database(server_url: str, prefix: str, template: str | None = None) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin_url = make_url(server_url)
    connection = await asyncpg.connect(
        host=admin_url.host,
        port=admin_url.port,
        user=admin_url.username,
        password=admin_url.password,
        database=admin_url.database or "postgres",
    )
    try:
        copy = f' TEMPLATE "{template}"' if template else ""
        await connection.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await connection.close()
    return admin_url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
async def create_database(postgres: PostgresService) -> CreateDatabase:
    """Create a fresh, empty database; returns its URL."""

    async def create(prefix: str) -> str:
        return await _new_database(postgres.url, prefix)

    return create


@pytest.fixture(scope="session")
def migrated_templates() -> dict[str, str]:
    """Per service, a database its migrations built once in this run (never connected to after,
    so PostgreSQL can copy it)."""
    return {}


@pytest.fixture
async def migrated_database(
    postgres: PostgresService, migrated_templates: dict[str, str]
) -> MigratedDatabase:
    """Create a fresh database at the service's latest migration; returns its URL."""
    return migrated_databases(postgres, migrated_templates)


def migrated_databases(postgres: PostgresService, templates: dict[str, str]) -> MigratedDatabase:
    """What `migrated_database` gives, for fixtures of a wider scope.

    The first call per service runs its Alembic migrations into a template database; every call
    copies the template (`CREATE DATABASE … TEMPLATE`), which is several times faster than
    migrating each test's database and gives the same schema.
    """
    migrated_templates = templates

    async def create(definition: ServiceDefinition) -> str:
        template = migrated_templates.get(definition.name)
        if template is None:
            url = await _new_database(postgres.url, f"template_{definition.name}")
            await asyncio.to_thread(upgrade, definition.migrations_dir, url)
            template = migrated_templates[definition.name] = make_url(url).database or ""
        return await _new_database(postgres.url, f"linli_{definition.name}", template)

    return create


@pytest.fixture(scope="session")
def sqlite_templates(infra_dir: Path) -> dict[str, Path]:
    """Per service, a SQLite file its migrations built once in this run."""
    return {}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.servers)])
def any_migrated_database(
    request: pytest.FixtureRequest, infra_dir: Path, sqlite_templates: dict[str, Path]
) -> MigratedDatabase:
    """`migrated_database` on each database a service runs on: SQLite (embedded mode; no server,
    so these tests are in the fast tier) and PostgreSQL (production)."""
    if request.param == "postgresql":
        postgres: PostgresService = request.getfixturevalue("postgres")
        return migrated_databases(postgres, request.getfixturevalue("migrated_templates"))

    async def create(definition: ServiceDefinition) -> str:
        template = sqlite_templates.get(definition.name)
        if template is None:
            template = infra_dir / f"template_{definition.name}.sqlite"
            await asyncio.to_thread(upgrade, definition.migrations_dir, f"sqlite:///{template}")
            sqlite_templates[definition.name] = template
        copy = infra_dir / f"{definition.name}_{uuid.uuid4().hex[:10]}.sqlite"
        shutil.copyfile(template, copy)
        return f"sqlite:///{copy}"

    return create


@pytest.fixture
def kafka_namespace() -> str:
    """A topic/group namespace of its own for each test, on the shared broker."""
    return f"t{uuid.uuid4().hex[:8]}."


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("LINLI_ENVIRONMENT", "test")


# What makes a test need the servers: the fast tier (`make test-fast`) is every test without them.
# Tests that start a broker, a browser or processes of the stack themselves (not through these
# fixtures) carry `pytest.mark.servers` in their module (`pytestmark`) or on the test.
SERVERS = frozenset({"kafka", "postgres"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVERS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)
