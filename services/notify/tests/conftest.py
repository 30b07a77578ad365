"""Fixtures of the notify tests: the database (SQLite and PostgreSQL, or PostgreSQL alone for
tests about it), a pinned clock, an SMTP server, the use cases on them, an API client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from conftest import MigratedDatabase
from linli_notify.app import DEFINITION, create_app
from linli_notify.service import UseCases
from linli_notify.settings import NotifySettings
from linli_shared.clock import FixedClock
from linli_shared.db import Database
from services.notify.tests.notify_support import NOW, make
from tests.support.api import api_client
from tests.support.infra import free_port
from tests.support.smtp import SmtpSink


@pytest.fixture
async def database(any_migrated_database: MigratedDatabase) -> AsyncIterator[Database]:
    """Notify's migrated database: SQLite (the fast tier) and PostgreSQL."""
    database = Database(await any_migrated_database(DEFINITION))
    yield database
    await database.dispose()


@pytest.fixture
async def pg_database(migrated_database: MigratedDatabase) -> AsyncIterator[Database]:
    """For tests about PostgreSQL itself (row locks, its notifications, its schema)."""
    database = Database(await migrated_database(DEFINITION))
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink(free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def notify(database: Database, clock: FixedClock, smtp: SmtpSink) -> UseCases:
    """The use cases on the test's database, clock and SMTP server."""
    return make(database, clock, smtp.port)


@pytest.fixture
async def client(database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The notify API on the test's database."""
    app = create_app(NotifySettings(database_url=database.url))
    async with api_client(app, "notify") as c:
        yield c
