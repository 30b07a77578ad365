"""The credit tests' shared fixtures: a migrated database for the use cases (SQLite in the fast
tier, PostgreSQL in the full run), and the HTTP API on its own migrated PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from conftest import MigratedDatabase
from linli_credit.app import DEFINITION, create_app
from linli_credit.settings import CreditSettings
from linli_shared.db import Database
from tests.support.api import api_client


@pytest.fixture
async def database(any_migrated_database: MigratedDatabase) -> AsyncIterator[Database]:
    """A freshly migrated credit database, on each database the service runs on."""
    database = Database(await any_migrated_database(DEFINITION))
    yield database
    await database.dispose()


@pytest.fixture
async def database_url(migrated_database: MigratedDatabase) -> str:
    """A freshly migrated credit database on PostgreSQL, for the API tests: the app and the
    test (applying events as the consumer does) each hold an engine on it."""
    return await migrated_database(DEFINITION)


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The credit API (as `create_app` builds it, on the system clock) over `database_url`."""
    app = create_app(CreditSettings(database_url=database_url))
    async with api_client(app, "credit") as c:
        yield c
