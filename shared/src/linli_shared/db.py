"""Database access: one async engine per service, Core connections, one transaction per use case.

Services use SQLAlchemy Core rather than ORM sessions: the hot read paths must not pay for
identity maps, and every write is a short, explicit transaction.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, Table, event, insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_only

from linli_shared.read_pool import ReadPool

# Autoincrementing big integer that SQLite accepts as its rowid alias.
BigIntegerPK = BigInteger().with_variant(Integer(), "sqlite")

SQLITE_BUSY_TIMEOUT_MS = 30_000
# A PostgreSQL connection back in the pool for less than this is handed out without a liveness
# check (HikariCP's `aliveBypassWindowMs`, same value). See `_ping_when_idle`.
ALIVE_BYPASS_SECONDS = 0.5


class UtcDateTime(TypeDecorator[datetime]):
    """A `timestamp with time zone` that is aware on every database.

    PostgreSQL keeps the instant; SQLite keeps only the wall time it is given and returns it
    naive. So values are stored in UTC and come back as aware UTC datetimes on both, which keeps
    comparisons (`next_attempt_at <= now`) and API output right. A naive value is taken as UTC.
    Migrations keep `sa.DateTime(timezone=True)`: the stored column type is the same.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def insert_ignoring_conflicts(connection: AsyncConnection, table: Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING on PostgreSQL and SQLite alike."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def async_url(url: str) -> str:
    """Accept plain `postgresql://` and `sqlite://` URLs and pick the async driver."""
    parsed = make_url(url)
    driver = {"postgresql": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}.get(
        parsed.drivername, parsed.drivername
    )
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


# A statement the running request adds to the transactions it commits (the audit trail's entry
# of a write, so the change and its record commit together or not at all).
BeforeCommit = Callable[["Database", AsyncConnection], Awaitable[None]]
_before_commit: ContextVar[BeforeCommit | None] = ContextVar("linli_before_commit", default=None)


@contextmanager
def before_commit(hook: BeforeCommit) -> Iterator[None]:
    """Run `hook` inside every transaction this task commits while the block runs."""
    token = _before_commit.set(hook)
    try:
        yield
    finally:
        _before_commit.reset(token)


class _Transaction:
    """The transaction the running task holds on a database, and the rows it inserts just
    before it commits (`insert_before_commit`)."""

    def __init__(self, database: Database, connection: AsyncConnection) -> None:
        self.database = database
        self.connection = connection
        self.inserts: dict[Table, list[dict[str, Any]]] = {}

    async def flush(self) -> None:
        for table, rows in self.inserts.items():
            await self.connection.execute(insert(table), rows)  # one statement for all the rows
        self.inserts.clear()


# The transaction the running task holds, per database (see `Database.transaction`).
_current: ContextVar[_Transaction | None] = ContextVar("linli_transaction", default=None)


def insert_before_commit(
    connection: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]
) -> bool:
    """Queue `rows` for `table`, to be inserted (in the order queued) just before the
    transaction on `connection` commits, in one statement with every row queued for that table
    in it: a batch of events that each write a few outbox rows pays one round trip, not one per
    use case. Rows queued are in the transaction's commit or lost with its rollback, as rows
    inserted at once would be; nothing in the transaction may read them back before it ends.
    False (nothing queued) when `connection` is not the transaction the running task opened
    with `Database.transaction`."""
    current = _current.get()
    if current is None or current.connection is not connection:
        return False
    current.inserts.setdefault(table, []).extend(rows)
    return True


class Database:
    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = async_url(url)
        options: dict[str, Any] = {}
        if self.url.startswith("sqlite"):
            options = {"connect_args": {"timeout": 30}}
        options.update(engine_options)
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        elif "pool_pre_ping" not in engine_options:
            event.listen(self.engine.sync_engine.pool, "checkout", _ping_when_idle)
            event.listen(self.engine.sync_engine.pool, "checkin", _note_checkin)
        # Hot reads by key skip the engine on PostgreSQL (see linli_shared.read_pool).
        self.reads: ReadPool | None = None if self.is_sqlite else ReadPool(self.url)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One unit of work: commits when the block ends, rolls back when it raises.

        Inside a transaction this task already holds on this database (a consumer's batch, which
        claims each event in the inbox), the block joins it instead: every use case is written
        the same way whether an API or a consumer calls it, and its writes commit with the
        caller's — or not at all.
        """
        current = _current.get()
        if current is not None and current.database is self:
            yield current.connection
            return
        async with self.engine.begin() as connection:
            transaction = _Transaction(self, connection)
            token = _current.set(transaction)
            try:
                yield connection
            finally:
                _current.reset(token)
            await transaction.flush()
            hook = _before_commit.get()
            if hook is not None:
                await hook(self, connection)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; nothing is committed."""
        async with self.engine.connect() as connection:
            yield connection

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self.reads is not None:
            await self.reads.close()
        await self.engine.dispose()


def _note_checkin(dbapi_connection: Any, connection_record: Any) -> None:
    connection_record.info["checked_in_at"] = time.monotonic()


def _ping_when_idle(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
    """The pool's liveness check, in one round trip and only for a connection that sat idle.

    SQLAlchemy's `pool_pre_ping` on asyncpg costs three round trips (BEGIN, a query, ROLLBACK)
    on every checkout, i.e. on every transaction: on this platform's hot paths that was more
    than the work itself (docs/performance.md). A connection returned less than
    `ALIVE_BYPASS_SECONDS` ago goes out unchecked, as HikariCP does; should the server have gone
    in that half second, the statement fails as an infrastructure error (a consumer retries, an
    API answers 503 with Retry-After) and the pool replaces the connection. An idle connection
    is checked with `SELECT 1` on the simple protocol (no prepared statement, so poolers in
    transaction mode are fine); a dead one is swapped for a new one before anyone sees it.
    """
    checked_in_at = connection_record.info.get("checked_in_at")
    if checked_in_at is not None and time.monotonic() - checked_in_at < ALIVE_BYPASS_SECONDS:
        return
    try:
        await_only(dbapi_connection.driver_connection.execute("SELECT 1"))
    except Exception as error:
        raise DisconnectionError(f"connection failed its liveness check: {error!r}") from error


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Readers beside one writer (WAL), and writers that wait their turn instead of failing."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # WAL is kept in the file: switching (which takes an exclusive lock, and fails at once
        # while a second connection opens the same file) happens only on a file's first connection.
        cursor.execute("PRAGMA journal_mode")
        if str(cursor.fetchone()[0]).lower() != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()
