"""Alembic, driven from code: each service keeps its migrations inside its package."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Literal

from alembic import command, context
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from linli_shared.aio import sleep_or_stop
from linli_shared.db import UtcDateTime, async_url

log = logging.getLogger(__name__)


def alembic_config(migrations_dir: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    return config


def upgrade(migrations_dir: Path, database_url: str, revision: str = "head") -> None:
    """Bring a service's database to `revision` (blocking; run it in a thread from async code)."""
    command.upgrade(alembic_config(migrations_dir, database_url), revision)


async def is_current(migrations_dir: Path, database_url: str) -> bool:
    """Whether the database is at the head revision (a worker waits for this before consuming)."""
    heads = set(
        ScriptDirectory.from_config(alembic_config(migrations_dir, database_url)).get_heads()
    )
    engine = create_async_engine(async_url(database_url), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            current = await connection.run_sync(
                lambda sync: set(MigrationContext.configure(sync).get_current_heads())
            )
    finally:
        await engine.dispose()
    return current == heads


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
    assert url is not None
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
        context.run_migrations()
