"""`linli migrate` run by several pods at once: one migrates, the others find the schema at head."""

from __future__ import annotations

import asyncio
import sys

from sqlalchemy import text

from conftest import CreateDatabase
from linli_credit.app import DEFINITION as CREDIT
from linli_shared.db import Database
from linli_shared.migrations import is_current
from tests.support.polling import eventually

MIGRATE = (
    "import sys; from linli_shared.migrations import upgrade; upgrade(sys.argv[1], sys.argv[2])"
)


async def _waiting_on_locks(database: Database) -> int:
    async with database.connect() as connection:
        waiting = await connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return int(waiting.scalar_one())


async def test_two_migrations_started_together_both_succeed_and_leave_the_schema_at_head(
    create_database: CreateDatabase,
) -> None:
    url = await create_database("linli_migrate")
    database = Database(url)
    try:
        async with database.engine.connect() as gate:
            # Both migrations start while a version table is being created elsewhere: they meet
            # at the same point, as two pods' init containers starting together do.
            await gate.execute(text("CREATE TABLE alembic_version (version_num varchar(32))"))
            migrations = [
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    MIGRATE,
                    str(CREDIT.migrations_dir),
                    url,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                )
                for _ in range(2)
            ]

            async def both_waiting() -> bool:
                return await _waiting_on_locks(database) >= 2

            await eventually(both_waiting, "both migrations to wait on a lock")
            await gate.rollback()
        outcomes = [await migration.communicate() for migration in migrations]
        for migration, (output, _) in zip(migrations, outcomes, strict=True):
            assert migration.returncode == 0, output.decode(errors="replace")
        assert await is_current(CREDIT.migrations_dir, url)
    finally:
        await database.dispose()
