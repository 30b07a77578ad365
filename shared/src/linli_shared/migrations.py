"""Alembic, driven from code: each service keeps its migrations inside its package."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from alembic import command, context
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from linli_shared.aio import sleep_or_stop
from linli_shared.db import Database, UtcDateTime, async_url
from linli_shared.health import ReadinessCheck

log = logging.getLogger(__name__)

# The advisory lock `linli migrate` holds on a PostgreSQL database while it migrates it.
MIGRATION_LOCK_KEY = 0x6C696E6C69  # "linli"


def alembic_config(migrations_dir: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    return config


def upgrade(migrations_dir: Path, database_url: str, revision: str = "head") -> None:
    """Bring a service's database to `revision` (blocking; run it in a thread from async code).

    A SQLite file is left in WAL mode: the service's connections then open it with no journal
    mode to switch, which two connections opening a new file at once cannot both do.
    """
    command.upgrade(alembic_config(migrations_dir, database_url), revision)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        with contextlib.closing(sqlite3.connect(url.database)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")


@dataclass(frozen=True)
class Revisions:
    """The migrations of one service's code: their heads and every revision they know."""

    heads: frozenset[str]
    known: frozenset[str]

    @classmethod
    def of(cls, migrations_dir: Path) -> Revisions:
        config = Config()
        config.set_main_option("script_location", str(migrations_dir))
        script = ScriptDirectory.from_config(config)
        return cls(
            heads=frozenset(script.get_heads()),
            known=frozenset(revision.revision for revision in script.walk_revisions()),
        )

    def behind(self, current: set[str]) -> str | None:
        """Why a database at `current` is not ready for this code, or None when it is.

        Ready at the head, and past it: a revision this code does not know is a later release's,
        and migrations keep the previous release working on the new schema (docs/operations.md),
        so old replicas stay ready while a rolling upgrade replaces them.
        """
        if current == self.heads or (current and not current & self.known):
            return None
        found = ", ".join(sorted(current)) or "none"
        return (
            f"database at revision {found}, expected {', '.join(sorted(self.heads))}; "
            "run `linli migrate`"
        )


async def current_revisions(connection: AsyncConnection) -> set[str]:
    """The revisions the database behind `connection` is at (empty before the first migration)."""
    return await connection.run_sync(
        lambda sync: set(MigrationContext.configure(sync).get_current_heads())
    )


async def is_current(migrations_dir: Path, database_url: str) -> bool:
    """Whether the database is at (or past) the code's head: a worker waits for this before
    consuming."""
    engine = create_async_engine(async_url(database_url), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            current = await current_revisions(connection)
    finally:
        await engine.dispose()
    return Revisions.of(migrations_dir).behind(current) is None


def schema_check(database: Database, migrations_dir: Path) -> ReadinessCheck:
    """A readiness check: the service's database is at the head of its migrations (or past it).

    A replica of a new release must not take traffic before `linli migrate` brought the schema to
    the release's head: its queries would meet tables and columns that are not there yet.
    """
    revisions = Revisions.of(migrations_dir)

    async def at_head() -> None:
        async with database.connect() as connection:
            reason = revisions.behind(await current_revisions(connection))
        if reason is not None:
            raise RuntimeError(reason)

    return at_head


async def wait_until_current(migrations_dir: Path, database_url: str, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            if await is_current(migrations_dir, database_url):
                return
            log.warning("database not migrated yet; waiting for `linli migrate`")
        except Exception as error:
            log.warning("database not reachable yet (%s); waiting", error)
        await sleep_or_stop(stop, 2.0)


def run_env(metadata: MetaData) -> None:
    """Body of every service's `migrations/env.py`."""
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise ValueError("alembic's configuration names no sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, metadata))


async def _run_online(url: str, metadata: MetaData) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_migrate, metadata)
    await engine.dispose()


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render our column types as plain SQLAlchemy ones: migrations import nothing of ours."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _migrate(connection: Connection, metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several pods (init containers, Jobs) may migrate at once: one at a time, and the
            # next finds the schema at head. Taken before Alembic reads the current revision.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        context.run_migrations()
