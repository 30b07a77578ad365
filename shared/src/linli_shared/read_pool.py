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
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

READ_POOL_SIZE = 10


class ReadPool:
    """An asyncpg pool opened on first use (inside the serving event loop) and closed by
    `close()`. JSON columns come back decoded, as SQLAlchemy's JSON type returns them."""

    def __init__(self, url: str, size: int = READ_POOL_SIZE) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self._size = size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        pool = await self._open()
        return await pool.fetchrow(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        pool = await self._open()
        return list(await pool.fetch(query, *args))

    async def fetchval(self, query: str, *args: Any) -> Any:
        pool = await self._open()
        return await pool.fetchval(query, *args)

    async def execute(self, statement: str, *args: Any) -> None:
        """One statement, committed on its own (autocommit)."""
        pool = await self._open()
        await pool.execute(statement, *args)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _open(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=1,
                    max_size=self._size,
                    init=_decode_json,
                    reset=_keep_session,
                )
        return self._pool


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Nothing to undo on release: this pool runs single statements only (no SET, LISTEN,
    cursors or advisory locks), and asyncpg still rolls back any open transaction itself. The
    default reset is one more round trip (`RESET ALL; UNLISTEN *; …`) on every read."""


async def _decode_json(connection: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await connection.set_type_codec(
            kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )
