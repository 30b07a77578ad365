"""Hot reads straight on asyncpg: one round trip per read, prepared statements, a steady pool.

A read through the SQLAlchemy engine costs a pool pre-ping, a BEGIN, the query and a ROLLBACK
(four round trips) plus the greenlet bridge; under more concurrent requests than the engine's
pool holds, overflow connections are opened and closed per request (~40 ms each on a busy
2-core machine). Reads by key (score, grade, green channel, household by id) take this path
instead, and so do single-statement appends that need no transaction of their own (the audit
trail); see docs/performance.md. On SQLite (the embedded mode) there is no read pool and
services keep their SQLAlchemy Core path.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

READ_POOL_SIZE = 10


class ReadPool:
    """Up to `size` asyncpg connections, opened on first use (inside the serving event loop) and
    closed by `close()`. JSON columns come back decoded, as SQLAlchemy's JSON type returns them.

    The connections are kept here rather than in asyncpg's `Pool`: its acquire and release (a
    shielded task per release, a proxy per acquire, a reset) were ~10 % of a read by key's CPU,
    for what single autocommitted statements do not need: no transaction, no session state.
    A connection whose statement failed other than by PostgreSQL's answer (a broken socket, a
    cancelled request: its protocol state is unknown) is closed, never handed out again."""

    def __init__(self, url: str, size: int = READ_POOL_SIZE) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self._size = size
        self._idle: list[asyncpg.Connection] = []  # the most recently used last
        self._waiting: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._count = 0  # connections open or opening
        self._closed = False

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        connection = await self._acquire()
        try:
            row = await connection.fetchrow(query, *args)
        except BaseException as error:
            self._after_failure(connection, error)
            raise
        self._release(connection)
        return row

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        connection = await self._acquire()
        try:
            rows = await connection.fetch(query, *args)
        except BaseException as error:
            self._after_failure(connection, error)
            raise
        self._release(connection)
        return list(rows)

    async def fetchval(self, query: str, *args: Any) -> Any:
        connection = await self._acquire()
        try:
            value = await connection.fetchval(query, *args)
        except BaseException as error:
            self._after_failure(connection, error)
            raise
        self._release(connection)
        return value

    async def execute(self, statement: str, *args: Any) -> None:
        """One statement, committed on its own (autocommit)."""
        connection = await self._acquire()
        try:
            await connection.execute(statement, *args)
        except BaseException as error:
            self._after_failure(connection, error)
            raise
        self._release(connection)

    async def close(self) -> None:
        """Close the idle connections now and the others as they come back; waiting reads fail."""
        self._closed = True
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(asyncpg.InterfaceError("the read pool is closed"))
        idle, self._idle = self._idle, []
        for connection in idle:
            self._count -= 1
            try:
                await connection.close(timeout=5)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                connection.terminate()

    async def _acquire(self) -> asyncpg.Connection:
        while True:
            if self._closed:
                raise asyncpg.InterfaceError("the read pool is closed")
            while self._idle:
                connection = self._idle.pop()
                if not connection.is_closed():  # the server may close one while it waits
                    return connection
                self._count -= 1
            if self._count < self._size:
                self._count += 1
                try:
                    return await self._connect()
                except BaseException:
                    self._count -= 1
                    self._hand_over(None)
                    raise
            waiter: asyncio.Future[asyncpg.Connection | None] = (
                asyncio.get_running_loop().create_future()
            )
            self._waiting.append(waiter)
            try:
                connection = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._release_or_free(waiter.result())  # handed over as it was cancelled
                elif waiter in self._waiting:
                    self._waiting.remove(waiter)
                raise
            if connection is not None:
                return connection
            # None: a connection was closed, so there is room to open one.

    async def _connect(self) -> asyncpg.Connection:
        connection: asyncpg.Connection = await asyncpg.connect(self._dsn)
        try:
            await _decode_json(connection)
        except BaseException:
            connection.terminate()
            raise
        return connection

    def _release(self, connection: asyncpg.Connection) -> None:
        if self._closed or connection.is_closed():
            self._drop(connection)
        elif not self._hand_over(connection):
            self._idle.append(connection)

    def _release_or_free(self, connection: asyncpg.Connection | None) -> None:
        if connection is not None:
            self._release(connection)
        else:
            self._hand_over(None)

    def _after_failure(self, connection: asyncpg.Connection, error: BaseException) -> None:
        # PostgreSQL answered with an error: the connection is ready for the next statement.
        if isinstance(error, asyncpg.PostgresError) and not connection.is_closed():
            self._release(connection)
        else:
            self._drop(connection)

    def _drop(self, connection: asyncpg.Connection) -> None:
        connection.terminate()
        self._count -= 1
        self._hand_over(None)  # a waiting read may open one in its place

    def _hand_over(self, connection: asyncpg.Connection | None) -> bool:
        """Give the connection (None: room for one) to the longest-waiting read, if any."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False


async def _decode_json(connection: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await connection.set_type_codec(
            kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )
