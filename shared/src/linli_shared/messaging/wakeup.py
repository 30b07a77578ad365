"""Wake a polling loop as soon as PostgreSQL says there is work (LISTEN/NOTIFY).

The outbox relay and the notice dispatcher find their work by polling a table. Polling fast
costs a transaction each time even when there is nothing to do — measured at 8-20 % of a core
per idle worker on a 2-core machine (docs/performance.md). Instead a trigger on the table
NOTIFYs a channel when rows are committed; the loop listens on its own connection, wakes at
once, and otherwise polls slowly, as a safety net for a notification lost with the connection.

Without a listening connection — SQLite (the embedded mode), `listen_for_wakeups` off (a pooler
in transaction mode cannot LISTEN), or the connection down — the loop polls at its fast rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from asyncio import FIRST_COMPLETED
from collections import deque
from collections.abc import AsyncIterator

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 2.0
KEEPALIVE_SECONDS = 15.0  # a half-open connection is noticed by a failing keep-alive


class Wakeup:
    def __init__(
        self,
        database_url: str | None,
        channel: str,
        *,
        poll_interval: float,
        listen_poll_interval: float,
    ) -> None:
        """`database_url` None: never listen. Channel names are SQL identifiers we choose."""
        self._dsn = (
            None
            if database_url is None
            else make_url(database_url).set(drivername="postgresql").render_as_string(False)
        )
        self._channel = channel
        self._poll_interval = poll_interval
        self._listen_poll_interval = listen_poll_interval
        self._pending = False
        self._waiters: deque[asyncio.Future[object]] = deque()
        self.listening = False

    async def wait(self, stop: asyncio.Event) -> None:
        """Until woken, stopped, or the poll interval (slow while listening) has passed.

        A wake-up that finds nobody waiting is kept: the next wait returns at once, so work
        committed while the loop was busy is never slept through."""
        if self._pending:
            self._pending = False
            return
        interval = self._listen_poll_interval if self.listening else self._poll_interval
        woken: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._waiters.append(woken)
        stopped: asyncio.Future[object] = asyncio.ensure_future(stop.wait())
        either: list[asyncio.Future[object]] = [woken, stopped]
        try:
            await asyncio.wait(either, timeout=interval, return_when=FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if woken in self._waiters:
                self._waiters.remove(woken)

    def wake_one(self) -> None:
        """Wake one waiting loop — not all: several lanes polling for the same new row would find
        it once and nothing the other times. (A lane that finds work keeps going; each new
        row's notification wakes another waiting lane, so a busy stream spreads over lanes.)"""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._pending = True

    @contextlib.asynccontextmanager
    async def listening_while(self) -> AsyncIterator[None]:
        """Keep a listening connection open (reconnecting) for the duration of the block."""
        if self._dsn is None:
            yield
            return
        task = asyncio.create_task(self._listen(self._dsn))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listen(self, dsn: str) -> None:
        while True:
            try:
                await self._listen_once(dsn)
            except Exception as error:  # any failure means: poll, and reconnect later
                log.warning("not listening on %s (polling instead): %s", self._channel, error)
            finally:
                self.listening = False
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen_once(self, dsn: str) -> None:
        connection = await asyncpg.connect(dsn, timeout=10)
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _: lost.set())
        try:
            await connection.add_listener(self._channel, self._notified)
            self.listening = True
            self.wake_one()  # rows may have been committed while nobody listened
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), KEEPALIVE_SECONDS)
                if not lost.is_set():
                    await connection.execute("SELECT 1", timeout=10)
            log.warning("the connection listening on %s was lost; polling", self._channel)
        finally:
            connection.terminate()

    def _notified(self, *_: object) -> None:
        self.wake_one()


def notify_on_insert_statements(dialect: str, table: str, channel: str) -> list[str]:
    """DDL for migrations: NOTIFY `channel` (delivered at commit, once per transaction) when
    rows are inserted into `table`. Nothing on SQLite, where loops poll."""
    if dialect != "postgresql":
        return []
    function = f"{table}_notify_{channel}"
    return [
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN PERFORM pg_notify('{channel}', ''); RETURN NULL; END $$",
        f"CREATE TRIGGER {function} AFTER INSERT ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
    ]


def drop_notify_on_insert_statements(dialect: str, table: str, channel: str) -> list[str]:
    if dialect != "postgresql":
        return []
    function = f"{table}_notify_{channel}"
    return [
        f"DROP TRIGGER IF EXISTS {function} ON {table}",
        f"DROP FUNCTION IF EXISTS {function}()",
    ]
