"""Rows a transaction's use cases queue (the outbox's events) are inserted just before it commits,
in one statement, in the order queued; a rollback loses them with everything else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, select
from sqlalchemy.engine import Connection

from linli_shared.db import Database, insert_before_commit

metadata = MetaData()
events = Table(
    "events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("name", String(20), nullable=False),
)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'queued.sqlite'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


async def _names(database: Database) -> list[str]:
    async with database.connect() as connection:
        result = await connection.execute(select(events.c.name).order_by(events.c.seq))
        return list(result.scalars())


async def _use_case(database: Database, *names: str) -> None:
    async with database.transaction() as connection:
        assert insert_before_commit(connection, events, [{"name": n} for n in names])


async def test_rows_queued_by_a_batchs_use_cases_are_inserted_at_commit_in_one_statement(
    database: Database,
) -> None:
    inserts: list[str] = []

    def count(conn: Connection, cursor: object, statement: str, *args: object) -> None:
        if statement.startswith("INSERT"):
            inserts.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with database.transaction():
            await _use_case(database, "first", "second")
            await _use_case(database, "third")
            assert await _names(database) == []  # queued, not yet written
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)

    assert len(inserts) == 1
    assert await _names(database) == ["first", "second", "third"]


async def test_rows_queued_in_a_transaction_that_rolls_back_are_never_inserted(
    database: Database,
) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction():
            await _use_case(database, "lost")
            raise RuntimeError("the batch's next event failed")
    await _use_case(database, "kept")
    assert await _names(database) == ["kept"]


async def test_a_connection_not_opened_as_a_transaction_queues_nothing(
    database: Database,
) -> None:
    async with database.engine.begin() as connection:
        assert not insert_before_commit(connection, events, [{"name": "now"}])
    async with database.transaction(), database.engine.begin() as other:
        assert not insert_before_commit(other, events, [{"name": "elsewhere"}])
    assert await _names(database) == []
