"""The hot reads' connection pool (linli_shared.read_pool, asyncpg's pool) on a real PostgreSQL:
reads share at most `size` connections, a server's error does not cost the connection, a
cancelled read leaves the pool serving the next, and one the server closed is replaced."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from conftest import CreateDatabase
from linli_shared.read_pool import ReadPool

pytestmark = pytest.mark.servers


async def _backends(pool: ReadPool) -> set[int]:
    return {await pool.fetchval("SELECT pg_backend_pid()") for _ in range(5)}


async def test_concurrent_reads_share_at_most_size_connections(
    create_database: CreateDatabase,
) -> None:
    pool = ReadPool(await create_database("read_pool"), size=3)
    try:
        pids = await asyncio.gather(
            *(pool.fetchval("SELECT pg_backend_pid() FROM pg_sleep(0.05)") for _ in range(12))
        )
        assert 1 < len(set(pids)) <= 3
        rows = await pool.fetch("SELECT x FROM generate_series(1, 3) x")
        assert [row["x"] for row in rows] == [1, 2, 3]
        row = await pool.fetchrow("SELECT '{\"a\": 1}'::jsonb AS j")
        assert row is not None and row["j"] == {"a": 1}
    finally:
        await pool.close()


async def test_a_server_error_keeps_the_connection_and_a_cancelled_read_blocks_no_other(
    create_database: CreateDatabase,
) -> None:
    pool = ReadPool(await create_database("read_pool"), size=1)
    try:
        before = await _backends(pool)
        with pytest.raises(asyncpg.PostgresError):
            await pool.fetchval("SELECT 1 / 0")
        assert await _backends(pool) == before
        slow = asyncio.create_task(pool.fetchval("SELECT pg_sleep(5)"))
        await asyncio.sleep(0.2)
        waiting = asyncio.create_task(pool.fetchval("SELECT 2"))
        await asyncio.sleep(0.05)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert await asyncio.wait_for(waiting, 5) == 2
        assert len(await _backends(pool)) == 1
    finally:
        await pool.close()


async def test_a_connection_the_server_closed_while_idle_is_replaced(
    create_database: CreateDatabase,
) -> None:
    url = await create_database("read_pool")
    pool = ReadPool(url, size=2)
    try:
        [pid] = await _backends(pool)
        other = ReadPool(url, size=1)
        try:
            assert await other.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await other.close()
        await asyncio.sleep(0.2)
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()
