"""The services on SQLite: the same migrations and tables, times that stay instants, WAL."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.engine import Connection

from conftest import CreateDatabase
from linli.services import SERVICES
from linli_shared.db import Database, UtcDateTime
from linli_shared.migrations import upgrade

SHANGHAI = timezone(timedelta(hours=8))


NewDatabase = Callable[[], Awaitable[str]]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.servers)])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> NewDatabase:
    """A fresh, empty database of each kind; returns its URL."""
    if request.param == "postgresql":
        create_database: CreateDatabase = request.getfixturevalue("create_database")
        return lambda: create_database("linli_embedded")

    async def sqlite() -> str:
        return f"sqlite:///{tmp_path / 'service.db'}"

    return sqlite


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_the_migrations_build_exactly_the_tables_the_code_uses(
    service: str, new_database: NewDatabase
) -> None:
    database_url = await new_database()
    definition = SERVICES[service]
    await asyncio.to_thread(upgrade, definition.migrations_dir, database_url)
    metadata = _metadata_of(service)
    database = Database(database_url)
    try:
        async with database.connect() as connection:
            drift = await connection.run_sync(_drift, metadata)
    finally:
        await database.dispose()
    assert drift == []


def _metadata_of(service: str) -> MetaData:
    module = __import__(f"linli_{service}.adapters.tables", fromlist=["metadata"])
    metadata: MetaData = module.metadata
    return metadata


def _drift(connection: Connection, metadata: MetaData) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


@pytest.fixture
async def times(new_database: NewDatabase) -> AsyncIterator[tuple[Database, Table]]:
    metadata = MetaData()
    table = Table(
        "times",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("at", UtcDateTime, nullable=True),
    )
    database = Database(await new_database())
    async with database.transaction() as connection:
        await connection.run_sync(metadata.create_all)
    yield database, table
    await database.dispose()


async def test_a_time_comes_back_as_the_same_instant_in_utc(
    times: tuple[Database, Table],
) -> None:
    database, table = times
    local = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=SHANGHAI)
    async with database.transaction() as connection:
        await connection.execute(insert(table).values(id=1, at=local))
        await connection.execute(insert(table).values(id=2, at=None))
    async with database.connect() as connection:
        rows = {row.id: row.at for row in await connection.execute(select(table.c.id, table.c.at))}
    assert rows[1] == local
    assert rows[1].tzinfo is not None and rows[1].utcoffset() == timedelta(0)
    assert rows[1] == datetime(2026, 3, 1, 1, 30, 15, 123456, tzinfo=UTC)
    assert rows[2] is None


async def test_times_compare_as_instants_whatever_zone_they_were_written_in(
    times: tuple[Database, Table],
) -> None:
    """As notify's `next_attempt_at <= now`: 09:00 in Shanghai is 01:00 UTC."""
    database, table = times
    async with database.transaction() as connection:
        await connection.execute(
            insert(table).values(id=1, at=datetime(2026, 3, 1, 9, 0, tzinfo=SHANGHAI))
        )
        await connection.execute(
            insert(table).values(id=2, at=datetime(2026, 3, 1, 1, 45, tzinfo=UTC))
        )

    async def due(now: datetime) -> list[int]:
        async with database.connect() as connection:
            query = select(table.c.id).where(table.c.at <= now).order_by(table.c.at)
            return list((await connection.execute(query)).scalars())

    assert await due(datetime(2026, 3, 1, 0, 30, tzinfo=UTC)) == []
    assert await due(datetime(2026, 3, 1, 1, 30, tzinfo=UTC)) == [1]
    assert await due(datetime(2026, 3, 1, 9, 50, tzinfo=SHANGHAI)) == [1, 2]


async def test_a_sqlite_database_keeps_readers_beside_a_writer_and_waits_for_locks(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        async with database.connect() as connection:
            mode = await connection.scalar(text("PRAGMA journal_mode"))
            timeout = await connection.scalar(text("PRAGMA busy_timeout"))
    finally:
        await database.dispose()
    assert mode == "wal"
    assert timeout == 30_000


async def test_a_migrated_sqlite_file_takes_writers_that_open_it_together(tmp_path: Path) -> None:
    """Switching a file to WAL takes an exclusive lock that a second connection opening it at the
    same moment cannot wait for ("database is locked"): migrations leave the file in WAL."""
    path = tmp_path / "credit.db"
    await asyncio.to_thread(upgrade, SERVICES["credit"].migrations_dir, f"sqlite:///{path}")
    with contextlib.closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    databases = [Database(f"sqlite:///{path}") for _ in range(3)]

    async def write(database: Database) -> None:
        async with database.transaction() as connection:
            await connection.execute(
                text(
                    "INSERT INTO inbox (consumer_group, event_id, event_type, processed_at) "
                    "VALUES ('g', :event, 't', CURRENT_TIMESTAMP)"
                ),
                {"event": str(id(database))},
            )

    try:
        await asyncio.gather(*(write(database) for database in databases))
    finally:
        for database in databases:
            await database.dispose()
