"""Wake-ups on a real migrated PostgreSQL: the outbox relay publishes a committed row at once
although it polls only every minute, keeps doing so after its listening connection is killed,
and without wake-ups falls back to its fast poll."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text

from conftest import MigratedDatabase
from linli_registry.adapters import tables
from linli_registry.app import DEFINITION
from linli_shared.db import Database
from linli_shared.messaging.outbox import OUTBOX_CHANNEL, OutboxRelay
from linli_shared.messaging.records import OutgoingRecord
from linli_shared.messaging.wakeup import Wakeup

SLOW_POLL = 60.0  # far longer than any wait below: only a wake-up can explain a quick publish
WAIT = 15.0


class CollectingSink:
    def __init__(self) -> None:
        self.keys: list[str] = []
        self.arrived = asyncio.Condition()

    async def send(self, records: Sequence[OutgoingRecord]) -> None:
        async with self.arrived:
            self.keys.extend(record.key for record in records)
            self.arrived.notify_all()

    async def wait_for(self, key: str) -> None:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: key in self.keys), WAIT)


@pytest.fixture
async def database(migrated_database: MigratedDatabase) -> AsyncIterator[Database]:
    url = await migrated_database(DEFINITION)
    database = Database(url)
    yield database
    await database.dispose()


async def commit_outbox_row(database: Database) -> str:
    key = str(uuid.uuid4())
    async with database.transaction() as connection:
        await connection.execute(
            insert(tables.outbox).values(
                event_id=str(uuid.uuid4()),
                topic="linli.registry.v1",
                partition_key=key,
                event_type="linli.registry.household.registered.v1",
                payload=b"{}",
                created_at=datetime.now(UTC),
            )
        )
    return key


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT)


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(int(WAIT / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not so within {WAIT} s")


def listening_slowly(database: Database) -> Wakeup:
    """A wake-up on the outbox channel whose poll is so slow that only a wake-up explains work."""
    return Wakeup(
        database.url, OUTBOX_CHANNEL, poll_interval=SLOW_POLL, listen_poll_interval=SLOW_POLL
    )


async def until_listening(wakeup: Wakeup) -> None:
    await until(lambda: wakeup.listening)


async def test_a_committed_row_wakes_the_relay_at_once(database: Database) -> None:
    sink = CollectingSink()
    wakeup = listening_slowly(database)
    relay = OutboxRelay(database, tables.outbox, sink, wakeup=wakeup)
    async with running(relay):
        await until_listening(wakeup)
        await asyncio.sleep(0.5)  # the relay's first, empty poll is over: it now waits
        for _ in range(3):
            await sink.wait_for(await commit_outbox_row(database))


async def test_the_relay_listens_again_after_its_connection_is_killed(database: Database) -> None:
    sink = CollectingSink()
    wakeup = listening_slowly(database)
    relay = OutboxRelay(database, tables.outbox, sink, wakeup=wakeup)
    async with running(relay):
        await until_listening(wakeup)
        async with database.transaction() as connection:
            killed = await connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                )
            )
        assert killed == 1
        await until(lambda: not wakeup.listening)  # the termination is noticed at once
        await until_listening(wakeup)
        await sink.wait_for(await commit_outbox_row(database))


async def test_without_wake_ups_the_relay_polls_at_its_fast_rate(database: Database) -> None:
    sink = CollectingSink()
    wakeup = Wakeup(None, OUTBOX_CHANNEL, poll_interval=0.05, listen_poll_interval=SLOW_POLL)
    relay = OutboxRelay(database, tables.outbox, sink, wakeup=wakeup)
    async with running(relay):
        await asyncio.sleep(0.5)
        assert not wakeup.listening
        await sink.wait_for(await commit_outbox_row(database))


async def test_a_wake_up_wakes_one_waiting_loop_not_all() -> None:
    wakeup = Wakeup(None, "any", poll_interval=SLOW_POLL, listen_poll_interval=SLOW_POLL)
    stop = asyncio.Event()
    waiters = [asyncio.create_task(wakeup.wait(stop)) for _ in range(4)]
    await asyncio.sleep(0.05)
    wakeup.wake_one()
    await asyncio.sleep(0.05)
    assert sum(waiter.done() for waiter in waiters) == 1
    stop.set()
    await asyncio.gather(*waiters)


async def test_a_wake_up_while_nobody_waits_is_kept_for_the_next_wait() -> None:
    wakeup = Wakeup(None, "any", poll_interval=SLOW_POLL, listen_poll_interval=SLOW_POLL)
    wakeup.wake_one()  # the loop was busy: nobody waited
    await asyncio.wait_for(wakeup.wait(asyncio.Event()), WAIT)  # returns at once
    waiting = asyncio.create_task(wakeup.wait(asyncio.Event()))
    await asyncio.sleep(0.1)
    assert not waiting.done()  # kept once, not forever
    waiting.cancel()


class CountingRelay(OutboxRelay):
    """The relay, counting its passes over the outbox."""

    passes = 0

    async def relay_once(self) -> int:
        self.passes += 1
        return await super().relay_once()


async def test_a_relay_that_drained_the_outbox_waits_for_the_next_wake_up(
    database: Database,
) -> None:
    sink = CollectingSink()
    wakeup = listening_slowly(database)
    relay = CountingRelay(database, tables.outbox, sink, wakeup=wakeup)
    async with running(relay):
        await until_listening(wakeup)
        await asyncio.sleep(0.5)  # the first passes (at start, on listening) are over
        before = relay.passes
        for _ in range(3):
            await sink.wait_for(await commit_outbox_row(database))
            await asyncio.sleep(0.2)
    # A pass per committed row, not a second, empty one after each.
    assert relay.passes - before == 3


class CommittingWhileSending(CollectingSink):
    """A sink that, while the relay publishes its first batch, commits one more outbox row."""

    def __init__(self, database: Database) -> None:
        super().__init__()
        self.database = database
        self.committed_meanwhile: str | None = None

    async def send(self, records: Sequence[OutgoingRecord]) -> None:
        if self.committed_meanwhile is None:
            self.committed_meanwhile = await commit_outbox_row(self.database)
        await super().send(records)


async def test_a_row_committed_while_the_relay_publishes_is_relayed_at_once(
    database: Database,
) -> None:
    """The pass that publishes does not see the row committed meanwhile, and waits after it:
    the row's notification, which found the relay busy, must not be slept through."""
    sink = CommittingWhileSending(database)
    wakeup = listening_slowly(database)
    relay = OutboxRelay(database, tables.outbox, sink, wakeup=wakeup)
    async with running(relay):
        await until_listening(wakeup)
        await asyncio.sleep(0.5)
        await sink.wait_for(await commit_outbox_row(database))
        assert sink.committed_meanwhile is not None
        await sink.wait_for(sink.committed_meanwhile)
