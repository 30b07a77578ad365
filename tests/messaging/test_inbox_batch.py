"""A batch's events are claimed in the inbox by one statement: an event applied before, and the
same event twice in one batch, are each applied once, in order, with the others."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, event, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_shared.context import EventContext
from linli_shared.contracts import CATALOGUE, HouseholdRegistered
from linli_shared.contracts.base import EventData
from linli_shared.contracts.registry import MemberV1
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.inbox import Inbox, inbox_table
from linli_shared.messaging.processing import Outcome, RecordProcessor, RetryPolicy, Subscription
from linli_shared.messaging.records import IncomingRecord, OutgoingRecord

GROUP = "inbox-batch"
metadata = MetaData()
inbox = inbox_table(metadata)
effects = Table("effects", metadata, Column("address", String(100), nullable=False))


class NoDeadLetters:
    async def send(self, records: Sequence[OutgoingRecord]) -> None:
        raise AssertionError(f"nothing here should be dead-lettered: {records}")


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'consumer.db'}")
    async with database.transaction() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


async def _apply(connection: AsyncConnection, event: EventData, envelope: Envelope) -> None:
    assert isinstance(event, HouseholdRegistered)
    await connection.execute(insert(effects).values(address=event.address))


def _processor(database: Database) -> RecordProcessor:
    subscription = Subscription(GROUP, {HouseholdRegistered: _apply})
    retry = RetryPolicy(max_attempts=1)
    return RecordProcessor(
        subscription, database, Inbox(inbox), CATALOGUE, NoDeadLetters(), retry, asyncio.Event()
    )


def _record(
    address: str, offset: int, same_as: Envelope | None = None
) -> tuple[IncomingRecord, Envelope]:
    envelope = same_as or Envelope.wrap(
        HouseholdRegistered(
            household_id=uuid.uuid4(),
            community_id="c",
            grid_id="g",
            address=address,
            members=[MemberV1(name="张三", relation="head")],
            contact_email="zhang@example.com",
            registered_at=datetime(2026, 3, 1, tzinfo=UTC),
        ),
        source="/test",
        context=EventContext("corr"),
    )
    record = IncomingRecord("linli.registry.v1", 0, offset, b"k", envelope.to_json())
    return record, envelope


async def test_a_batch_applies_each_event_once_whether_seen_before_or_twice_in_it(
    database: Database,
) -> None:
    processor = _processor(database)
    earlier, seen = _record("earlier", 0)
    assert await processor.process_batch([earlier]) == [Outcome.APPLIED]
    first, envelope = _record("first", 1)
    second, _ = _record("second", 2)
    again, _ = _record("first", 3, same_as=envelope)
    old, _ = _record("earlier", 4, same_as=seen)
    statements: list[str] = []

    def count(conn: Connection, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        outcomes = await processor.process_batch([first, second, again, old])
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)

    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED, Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert sum("INSERT INTO inbox" in statement for statement in statements) == 1
    async with database.connect() as connection:
        applied = list((await connection.execute(select(effects.c.address))).scalars())
    assert applied == ["earlier", "first", "second"]
