"""The pool's liveness check on a real PostgreSQL: a connection that sat idle is checked (one
round trip) and replaced if the server dropped it; one back in the pool a moment ago goes out
unchecked, and if it did die in that moment the transaction fails as an infrastructure error
(what consumers retry and APIs answer 503 to) and the next one gets a new connection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from conftest import MigratedDatabase
from linli_registry.app import DEFINITION
from linli_shared import db as db_module
from linli_shared.db import Database
from linli_shared.faults import is_infrastructure_error


@pytest.fixture
async def url(migrated_database: MigratedDatabase) -> str:
    return await migrated_database(DEFINITION)


@pytest.fixture
async def database(url: str) -> AsyncIterator[Database]:
    database = Database(url, pool_size=1, max_overflow=0)
    yield database
    await database.dispose()


async def _backend(database: Database) -> int:
    async with database.transaction() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(url: str, pid: int) -> None:
    other = Database(url)
    try:
        async with other.transaction() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await other.dispose()


async def test_an_idle_connection_the_server_dropped_is_replaced_before_anyone_uses_it(
    database: Database, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "ALIVE_BYPASS_SECONDS", 0.0)  # every checkout counts as idle
    first = await _backend(database)
    await _terminate(url, first)
    second = await _backend(database)  # no error: the check found it dead and reconnected
    assert second != first


async def test_a_connection_used_a_moment_ago_goes_out_unchecked_and_a_dead_one_fails_once(
    database: Database, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "ALIVE_BYPASS_SECONDS", 3600.0)  # never idle long enough
    first = await _backend(database)
    await _terminate(url, first)
    with pytest.raises(Exception) as raised:
        await _backend(database)  # unchecked: the dead connection itself was used
    assert is_infrastructure_error(raised.value)
    assert await _backend(database) != first  # the pool let the dead one go
