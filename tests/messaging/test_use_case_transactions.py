"""One calling convention for use cases: each opens `Database.transaction()`, which joins the
transaction its caller (a consumer's batch) already holds, so both commit together or not at all."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select

from linli_shared.context import EventContext
from linli_shared.contracts import HouseholdDeregistered, HouseholdMoved
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope, MalformedEvent
from linli_shared.messaging.processing import Subscription, on, on_sourced

metadata = MetaData()
rows = Table("rows", metadata, Column("id", Integer, primary_key=True))


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'use-cases.sqlite'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


async def _count(database: Database) -> int:
    async with database.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(rows))).scalar_one())


async def _use_case(database: Database) -> None:
    async with database.transaction() as connection:
        await connection.execute(insert(rows))


async def test_a_use_case_called_inside_a_transaction_joins_it(database: Database) -> None:
    async with database.transaction() as outer:
        await _use_case(database)
        async with database.transaction() as inner:
            assert inner is outer
        assert await _count(database) == 0  # nothing committed yet: it is one transaction
    assert await _count(database) == 1


async def test_a_use_cases_writes_roll_back_with_its_callers_transaction(
    database: Database,
) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction():
            await _use_case(database)
            raise RuntimeError("the inbox claim after it failed")
    assert await _count(database) == 0


async def test_a_use_case_alone_commits_its_own_transaction(database: Database) -> None:
    await _use_case(database)
    await _use_case(database)
    assert await _count(database) == 2


def _envelope(event: HouseholdMoved) -> Envelope:
    return Envelope.wrap(event, source="/linli/registry", context=EventContext("c-1"))


def _moved() -> HouseholdMoved:
    return HouseholdMoved(
        household_id=uuid.uuid4(),
        community_id="c1",
        grid_id="g1",
        address="1 Lane",
        moved_at=datetime(2026, 3, 1, tzinfo=UTC),
        version=2,
    )


async def test_a_route_hands_its_use_case_the_typed_event_and_the_event_id(
    database: Database,
) -> None:
    seen: list[tuple[HouseholdMoved, str | None]] = []

    async def remember(event: HouseholdMoved) -> None:
        seen.append((event, None))

    async def sourced(event: HouseholdMoved, event_id: str) -> None:
        seen.append((event, event_id))

    event = _moved()
    envelope = _envelope(event)
    async with database.transaction() as connection:
        for _, handle in (on(HouseholdMoved, remember), on_sourced(HouseholdMoved, sourced)):
            await handle(connection, event, envelope)
    assert seen == [(event, None), (event, envelope.id)]


async def test_an_event_of_another_type_than_its_route_is_malformed(database: Database) -> None:
    async def remember(event: HouseholdDeregistered) -> None:
        raise AssertionError("not reached")

    _, handle = on(HouseholdDeregistered, remember)
    event = _moved()
    async with database.transaction() as connection:
        with pytest.raises(MalformedEvent):
            await handle(connection, event, _envelope(event))


def test_a_subscription_refuses_an_event_type_routed_twice() -> None:
    async def remember(event: HouseholdMoved) -> None:
        return None

    with pytest.raises(ValueError, match="routed twice"):
        Subscription.of("g", on(HouseholdMoved, remember), on(HouseholdMoved, remember))
