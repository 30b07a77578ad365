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
def use_cases(database: Database, clock: FixedClock, policy: InspectionPolicy) -> UseCases:
    """As the composition root builds them, with the pinned clock and the test's policy."""
    return app.build_use_cases(database, clock, policy)


@pytest.fixture
async def database_url(migrated_database: MigratedDatabase) -> str:
    """The HTTP API's database (PostgreSQL)."""
    return await migrated_database(app.DEFINITION)


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the HTTP API as `create_app` builds it, over ASGI."""
    async with api_client(app.create_app(InspectionsSettings(database_url=database_url)), "i") as c:
        yield c
