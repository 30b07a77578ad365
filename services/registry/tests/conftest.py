"""The registry's test fixtures: its use cases on a migrated database (SQLite in the fast tier,
PostgreSQL in the full run), a pinned clock, and its HTTP API in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from conftest import MigratedDatabase
from linli_registry.app import DEFINITION, build_use_cases, create_app
from linli_registry.service import UseCases
from linli_registry.settings import RegistrySettings
from linli_shared.clock import FixedClock
from linli_shared.db import Database
from tests.support.api import api_client


@pytest.fixture
def now() -> datetime:
    """The instant the registry's clock stands at."""
    return datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def clock(now: datetime) -> FixedClock:
    return FixedClock(now)


@pytest.fixture
async def database_url(any_migrated_database: MigratedDatabase) -> str:
    """A freshly migrated registry database, on SQLite and on PostgreSQL."""
    return await any_migrated_database(DEFINITION)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def registry(database: Database, clock: FixedClock) -> UseCases:
    """The registry's use cases as the app builds them, with the pinned clock."""
    return build_use_cases(database, RegistrySettings(), clock)


@pytest.fixture
async def client(migrated_database: MigratedDatabase) -> AsyncIterator[httpx.AsyncClient]:
    """The registry's HTTP API on a freshly migrated PostgreSQL database."""
    app = create_app(RegistrySettings(database_url=await migrated_database(DEFINITION)))
    async with api_client(app, "registry") as client:
        yield client
