"""The inspections tests' fixtures: a migrated database (SQLite and PostgreSQL for the use cases,
PostgreSQL for the HTTP API), a pinned clock, the policy, the use cases as the composition root
builds them, and a client of the HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from conftest import MigratedDatabase
from linli_inspections import app
from linli_inspections.domain.policy import InspectionPolicy
from linli_inspections.service import UseCases
from linli_inspections.settings import InspectionsSettings
from linli_shared.clock import FixedClock
from linli_shared.db import Database
from tests.support.api import api_client
from tests.support.subject_keys import KeysForTests

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def database(any_migrated_database: MigratedDatabase) -> AsyncIterator[Database]:
    """The use cases' database: SQLite (fast tier) and PostgreSQL."""
    database = Database(await any_migrated_database(app.DEFINITION))
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def policy() -> InspectionPolicy:
    return InspectionPolicy()


@pytest.fixture
def subject_keys() -> KeysForTests:
    """The registry's subject keys the notes are sealed under."""
    return KeysForTests()


@pytest.fixture
def use_cases(
    database: Database, clock: FixedClock, policy: InspectionPolicy, subject_keys: KeysForTests
) -> UseCases:
    """As the composition root builds them, with the pinned clock and the test's policy."""
    return app.build_use_cases(database, clock, policy, subject_keys=subject_keys)


@pytest.fixture
async def database_url(migrated_database: MigratedDatabase) -> str:
    """The HTTP API's database (PostgreSQL)."""
    return await migrated_database(app.DEFINITION)


@pytest.fixture
async def client(database_url: str, subject_keys: KeysForTests) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the HTTP API as `create_app` builds it, over ASGI."""
    settings = InspectionsSettings(database_url=database_url)
    async with api_client(app.create_app(settings, subject_keys), "i") as c:
        yield c
