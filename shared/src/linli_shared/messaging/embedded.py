"""The embedded transport: a durable event log in one SQLite file, for the single-process mode.

It keeps the semantics the services rely on from Kafka, on one machine and without a broker:

* **a durable, ordered log** — table `records (topic, partition, offset, key, value, headers)`;
  `send` returns once its records are committed (WAL, `synchronous=FULL`), so a crash loses
  nothing that was acknowledged;
* **per-key order** — a record's partition is a stable hash of its key (CRC-32, the same in every
  process and Python version), and offsets grow by one per partition in append order;
* **consumer groups with committed offsets** — table `consumer_offsets (group, topic,
  partition, next_offset)`; a group starts at the beginning of the log and resumes from its
  committed offsets; each group sees every record;
* **at-least-once** — the offset is committed after the records were processed, so a crash or a
  failed handler redelivers the uncommitted tail (the inbox turns redeliveries into no-ops);
* **dead letters** are just another topic, written through `send`.

Consumers of the same process are woken as soon as a record is appended there; records that
another process appends are found by polling. One consumer of a group is active at a time in a
process (another one stands by until it leaves); a deployment that needs more than one process
per group uses Kafka. Records of the streams are never deleted: the log is for a single machine
and a development or demonstration workload. Dead letters are, by the retention policy of the
consuming service (`delete_before`, from its worker's retention job).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import sqlite3
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence, Set
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from linli_shared.aio import sleep_or_stop, wait_for_any
from linli_shared.messaging.lanes import COMMIT_INTERVAL_SECONDS, Lanes
from linli_shared.messaging.records import (
    IncomingRecord,
    OutgoingRecord,
    PartitionLag,
    Process,
    ProcessBatch,
    chunked,
    one_by_one,
)

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]
T = TypeVar("T")

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    name TEXT PRIMARY KEY,
    partitions INTEGER NOT NULL CHECK (partitions > 0),
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL,
    "partition" INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    key BLOB,
    value BLOB,
    headers TEXT NOT NULL,
    appended_at TEXT NOT NULL,
    PRIMARY KEY (topic, "partition", "offset")
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS consumer_offsets (
    consumer_group TEXT NOT NULL,
    topic TEXT NOT NULL,
    "partition" INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    committed_at TEXT NOT NULL,
    PRIMARY KEY (consumer_group, topic, "partition")
) WITHOUT ROWID;
"""


def partition_for(key: str, partitions: int) -> int:
    """The partition of a key: stable across processes, restarts and Python versions."""
    return zlib.crc32(key.encode()) % partitions


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _encode_headers(headers: dict[str, bytes]) -> str:
    return json.dumps({name: base64.b64encode(value).decode() for name, value in headers.items()})


def _decode_headers(raw: str) -> dict[str, bytes]:
    return {name: base64.b64decode(value) for name, value in json.loads(raw).items()}


@dataclass(eq=False)
class _Listener:
    """A consumer waiting for appends, woken in its own event loop."""

    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.event.set()
        else:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody to wake
                self.loop.call_soon_threadsafe(self.event.set)


class EventLog:
    """One open log file: a SQLite connection used from one thread, plus in-process wake-ups.

    Transports of one process share the `EventLog` of a path (see `open_log`), so a record sent
    by one service's relay wakes the other services' consumers at once.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="linli-event-log")
        self._connection: sqlite3.Connection | None = None
        self._listeners: set[_Listener] = set()
        self._active_groups: set[str] = set()
        self._lock = threading.Lock()

    # --- lifecycle (blocking parts run on the log's own thread) -------------------------------

    def start_opening(self) -> Future[None]:
        """Open the file on the log's thread; any event loop may await the outcome."""
        return self._executor.submit(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self.path, timeout=30, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA busy_timeout=30000")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} was written by a newer Linli (log schema {version})"
                )
            connection.executescript(_SCHEMA)
            connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            connection.close()
            raise
        self._connection = connection

    async def close(self) -> None:
        try:
            await self._call(self._close)
        finally:
            self._executor.shutdown(wait=True)

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def _call(self, function: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function)

    @property
    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError(f"event log {self.path} is closed")
        return self._connection

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # --- topics --------------------------------------------------------------------------------

    async def ensure_topics(self, topics: Iterable[str], partitions: int) -> None:
        names = sorted(set(topics))
        await self._call(lambda: self._ensure_topics(names, partitions))

    def _ensure_topics(self, topics: Sequence[str], partitions: int) -> None:
        with self._write() as db:
            db.executemany(
                "INSERT OR IGNORE INTO topics (name, partitions, created_at) VALUES (?, ?, ?)",
                [(topic, partitions, _now()) for topic in topics],
            )

    def _partitions_of(self, topics: Iterable[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for topic in topics:
            row = self._db.execute(
                "SELECT partitions FROM topics WHERE name = ?", (topic,)
            ).fetchone()
            if row is not None:
                found[topic] = int(row[0])
        return found

    async def topic_names(self) -> list[str]:
        rows = await self._call(lambda: self._db.execute("SELECT name FROM topics").fetchall())
        return sorted(str(row[0]) for row in rows)

    async def delete_before(self, topics: Iterable[str], before: datetime) -> int:
        """Delete the records of `topics` appended before `before` (retention), except each
        partition's newest: its offset numbers the next record, as Kafka never deletes a
        partition's active segment. Returns how many went."""
        names = sorted(set(topics))
        cutoff = before.astimezone(UTC).isoformat()
        return await self._call(lambda: self._delete_before(names, cutoff))

    def _delete_before(self, topics: Sequence[str], cutoff: str) -> int:
        deleted = 0
        with self._write() as db:
            for topic in topics:
                deleted += db.execute(
                    'DELETE FROM records WHERE topic = ? AND appended_at < ? AND "offset" < '
                    '(SELECT MAX(newest."offset") FROM records AS newest WHERE newest.topic = '
                    'records.topic AND newest."partition" = records."partition")',
                    (topic, cutoff),
                ).rowcount
        return deleted

    async def partitions(self, topic: str) -> int:
        """How many partitions `topic` has; 0 when it does not exist."""
        return (await self._call(lambda: self._partitions_of([topic]))).get(topic, 0)

    # --- producing -----------------------------------------------------------------------------

    async def append(
        self, records: Sequence[OutgoingRecord], default_partitions: int
    ) -> list[TopicPartition]:
        """Append in order, all or nothing; a topic not seen before is created. Returns where
        each record went."""
        if not records:
            return []
        placed = await self._call(lambda: self._append(records, default_partitions))
        self._wake_listeners()
        return placed

    def _append(
        self, records: Sequence[OutgoingRecord], default_partitions: int
    ) -> list[TopicPartition]:
        placed: list[TopicPartition] = []
        with self._write() as db:
            partitions = self._partitions_of({record.topic for record in records})
            next_offsets: dict[TopicPartition, int] = {}
            appended_at = _now()
            for record in records:
                if record.topic not in partitions:
                    db.execute(
                        "INSERT INTO topics (name, partitions, created_at) VALUES (?, ?, ?)",
                        (record.topic, default_partitions, appended_at),
                    )
                    partitions[record.topic] = default_partitions
                where = (record.topic, partition_for(record.key, partitions[record.topic]))
                offset = next_offsets.get(where)
                if offset is None:
                    row = db.execute(
                        'SELECT MAX("offset") FROM records WHERE topic = ? AND "partition" = ?',
                        where,
                    ).fetchone()
                    offset = 0 if row[0] is None else int(row[0]) + 1
                db.execute(
                    'INSERT INTO records (topic, "partition", "offset", key, value, headers, '
                    "appended_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        *where,
                        offset,
                        record.key.encode(),
                        record.value,
                        _encode_headers(record.headers),
                        appended_at,
                    ),
                )
                next_offsets[where] = offset + 1
                placed.append(where)
        return placed

    # --- consuming -----------------------------------------------------------------------------

    async def fetch(
        self,
        group: str,
        topics: Sequence[str],
        positions: dict[TopicPartition, int],
        limit: int,
        skip: Set[TopicPartition] = frozenset(),
    ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, list[IncomingRecord]]]:
        """Records after `positions`, per partition in offset order, but for the partitions to
        `skip` (still being processed).

        Partitions not in `positions` yet (new topics, or the first fetch) start at the group's
        committed offset, or at the beginning. Returns the positions of those and the records.
        """
        known = dict(positions)
        skipped = frozenset(skip)
        return await self._call(lambda: self._fetch(group, topics, known, limit, skipped))

    def _fetch(
        self,
        group: str,
        topics: Sequence[str],
        positions: dict[TopicPartition, int],
        limit: int,
        skip: Set[TopicPartition],
    ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, list[IncomingRecord]]]:
        db = self._db
        added: dict[TopicPartition, int] = {}
        for topic, count in self._partitions_of(topics).items():
            for partition in range(count):
                if (topic, partition) not in positions:
                    row = db.execute(
                        "SELECT next_offset FROM consumer_offsets WHERE consumer_group = ? "
                        'AND topic = ? AND "partition" = ?',
                        (group, topic, partition),
                    ).fetchone()
                    added[(topic, partition)] = 0 if row is None else int(row[0])
        batches: dict[TopicPartition, list[IncomingRecord]] = {}
        for (topic, partition), position in {**positions, **added}.items():
            if (topic, partition) in skip:
                continue
            rows = db.execute(
                'SELECT "offset", key, value, headers FROM records WHERE topic = ? '
                'AND "partition" = ? AND "offset" >= ? ORDER BY "offset" LIMIT ?',
                (topic, partition, position, limit),
            ).fetchall()
            if rows:
                batches[(topic, partition)] = [
                    IncomingRecord(
                        topic=topic,
                        partition=partition,
                        offset=int(offset),
                        key=key,
                        value=value,
                        headers=_decode_headers(headers),
                    )
                    for offset, key, value, headers in rows
                ]
        return added, batches

    async def commit(self, group: str, where: TopicPartition, next_offset: int) -> None:
        await self.commit_all(group, {where: next_offset})

    async def commit_all(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        """The group's next offsets of several partitions, in one write."""
        rows = [(group, *where, offset, _now()) for where, offset in offsets.items()]
        await self._call(lambda: self._commit(rows))

    def _commit(self, rows: list[tuple[str, str, int, int, str]]) -> None:
        with self._write() as db:
            db.executemany(
                'INSERT INTO consumer_offsets (consumer_group, topic, "partition", next_offset, '
                "committed_at) VALUES (?, ?, ?, ?, ?) "
                'ON CONFLICT (consumer_group, topic, "partition") DO UPDATE SET '
                "next_offset = excluded.next_offset, committed_at = excluded.committed_at",
                rows,
            )

    async def committed(self, group: str, where: TopicPartition) -> int | None:
        """The group's committed offset of a partition: the next record it will read."""
        return await self._call(lambda: self._committed(group, where))

    def _committed(self, group: str, where: TopicPartition) -> int | None:
        row = self._db.execute(
            "SELECT next_offset FROM consumer_offsets WHERE consumer_group = ? AND topic = ? "
            'AND "partition" = ?',
            (group, *where),
        ).fetchone()
        return None if row is None else int(row[0])

    async def consumer_lag(self, groups: Mapping[str, Sequence[str]]) -> list[PartitionLag]:
        """Each group's committed position and the log's end in every partition of its topics
        (a group that never committed starts at offset 0)."""
        wanted = {group: list(topics) for group, topics in groups.items()}
        return await self._call(lambda: self._consumer_lag(wanted))

    def _consumer_lag(self, groups: Mapping[str, Sequence[str]]) -> list[PartitionLag]:
        db = self._db
        lags: list[PartitionLag] = []
        for group, topics in groups.items():
            for topic, count in sorted(self._partitions_of(topics).items()):
                for partition in range(count):
                    (last,) = db.execute(
                        'SELECT MAX("offset") FROM records WHERE topic = ? AND "partition" = ?',
                        (topic, partition),
                    ).fetchone()
                    committed = self._committed(group, (topic, partition))
                    lags.append(
                        PartitionLag(
                            group=group,
                            topic=topic,
                            partition=partition,
                            position=committed or 0,
                            end=0 if last is None else int(last) + 1,
                        )
                    )
        return lags

    async def ping(self) -> None:
        await self._call(lambda: self._db.execute("SELECT 1").fetchone())

    # --- wake-ups and group membership ---------------------------------------------------------

    @contextlib.contextmanager
    def listening(self) -> Iterator[asyncio.Event]:
        """An event set whenever a record is appended in this process."""
        listener = _Listener(asyncio.get_running_loop())
        with self._lock:
            self._listeners.add(listener)
        try:
            yield listener.event
        finally:
            with self._lock:
                self._listeners.discard(listener)

    def _wake_listeners(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener.wake()

    @contextlib.asynccontextmanager
    async def membership(
        self, group: str, stop: asyncio.Event, poll_interval: float
    ) -> AsyncIterator[bool]:
        """Become the group's active consumer in this process; yields False if `stop` came
        first."""
        announced = False
        while not stop.is_set():
            with self._lock:
                if group not in self._active_groups:
                    self._active_groups.add(group)
                    break
            if not announced:
                log.info("consumer group %s is busy in this process; standing by", group)
                announced = True
            await sleep_or_stop(stop, poll_interval)
        else:
            yield False
            return
        try:
            yield True
        finally:
            with self._lock:
                self._active_groups.discard(group)


@dataclass
class _OpenLog:
    log: EventLog
    opened: Future[None]
    users: int = 0


# The registry of open logs is shared by every thread and event loop of the process.
_open_logs: dict[Path, _OpenLog] = {}
_open_logs_lock = threading.Lock()


def open_log_paths() -> list[Path]:
    """The log files this process has open now."""
    with _open_logs_lock:
        return list(_open_logs)


@contextlib.asynccontextmanager
async def open_log(path: Path) -> AsyncIterator[EventLog]:
    """The process's shared `EventLog` of `path` (absolute), opened on first use, closed after
    the last user."""
    event_log = await _acquire(path)
    try:
        yield event_log
    finally:
        await _release(event_log)


async def _acquire(key: Path) -> EventLog:
    with _open_logs_lock:
        entry = _open_logs.get(key)
        if entry is None:
            event_log = EventLog(key)
            entry = _open_logs[key] = _OpenLog(event_log, event_log.start_opening())
        entry.users += 1
    try:
        await asyncio.wrap_future(entry.opened)
    except BaseException:
        await _release(entry.log)
        raise
    return entry.log


async def _release(event_log: EventLog) -> None:
    with _open_logs_lock:
        entry = _open_logs.get(event_log.path)
        if entry is None or entry.log is not event_log:
            return
        entry.users -= 1
        if entry.users > 0:
            return
        del _open_logs[event_log.path]
    await event_log.close()


class EmbeddedTransport:
    """The `Transport` over an `EventLog` file."""

    def __init__(
        self,
        path: Path | str,
        client_id: str,
        *,
        partitions: int = 3,
        poll_interval: float = 0.25,
        max_records: int = 500,
    ) -> None:
        self._path = Path(path).resolve()
        self._client_id = client_id
        self._partitions = partitions
        self._poll_interval = poll_interval
        self._max_records = max_records
        self._log: EventLog | None = None
        self._consuming: set[str] = set()

    async def start(self) -> None:
        if self._log is None:
            self._log = await _acquire(self._path)

    async def stop(self) -> None:
        event_log, self._log = self._log, None
        if event_log is not None:
            await _release(event_log)

    async def send(self, records: Sequence[OutgoingRecord]) -> None:
        """Append durably, in order; returns once the records are committed to the file."""
        if self._log is None:
            raise RuntimeError("EmbeddedTransport.send before start")
        await self._log.append(records, self._partitions)

    async def ensure_topics(self, topics: Iterable[str]) -> None:
        async with open_log(self._path) as event_log:
            await event_log.ensure_topics(topics, self._partitions)

    async def ping(self) -> None:
        async with open_log(self._path) as event_log:
            await event_log.ping()

    async def delete_before(self, topics: Iterable[str], before: datetime) -> int:
        """Retention of `topics` in the log (`EventLog.delete_before`)."""
        async with open_log(self._path) as event_log:
            return await event_log.delete_before(topics, before)

    async def consumer_lag(self, groups: Mapping[str, Sequence[str]]) -> list[PartitionLag]:
        """Where each consumer group stands in the log (`EventLog.consumer_lag`)."""
        async with open_log(self._path) as event_log:
            return await event_log.consumer_lag(groups)

    def consuming(self, group: str) -> bool:
        """True while this transport consumes for `group` (actively or standing by)."""
        return group in self._consuming

    async def consume(
        self, group: str, topics: Sequence[str], process: Process, stop: asyncio.Event
    ) -> None:
        """`consume_batches` one record at a time."""
        await self.consume_batches(group, topics, one_by_one(process), stop, batch_size=1)

    async def consume_batches(
        self,
        group: str,
        topics: Sequence[str],
        process: ProcessBatch,
        stop: asyncio.Event,
        batch_size: int,
    ) -> None:
        """Consume until `stop`; partitions in parallel, records of one partition in order,
        handed over in batches of up to `batch_size` consecutive records.

        A partition's offset is noted once its batches were processed (also when one of them
        failed: up to the failure); the noted offsets are committed in one write at most every
        `COMMIT_INTERVAL_SECONDS` and when consuming stops, so only the uncommitted tail is ever
        redelivered.
        """
        self._consuming.add(group)
        try:
            async with (
                open_log(self._path) as event_log,
                event_log.membership(group, stop, self._poll_interval) as active,
            ):
                if not active:
                    return
                with event_log.listening() as appended:
                    await self._consume(
                        event_log, group, topics, process, stop, appended, batch_size
                    )
        finally:
            self._consuming.discard(group)

    async def _consume(
        self,
        event_log: EventLog,
        group: str,
        topics: Sequence[str],
        process: ProcessBatch,
        stop: asyncio.Event,
        appended: asyncio.Event,
        batch_size: int,
    ) -> None:
        positions: dict[TopicPartition, int] = {}
        finished: dict[TopicPartition, int] = {}  # next offsets processed, not yet committed
        lanes: Lanes[TopicPartition] = Lanes()
        committed_at = time.monotonic()
        try:
            while not stop.is_set():
                await lanes.check()
                if finished and time.monotonic() - committed_at >= COMMIT_INTERVAL_SECONDS:
                    await _commit(event_log, group, finished)
                    committed_at = time.monotonic()
                appended.clear()  # set again by any append from here on: no wake-up is lost
                lanes.finished.clear()
                busy = lanes.busy()
                added, batches = await event_log.fetch(
                    group, topics, positions, self._max_records, skip=busy
                )
                positions.update(added)
                for where, records in batches.items():
                    lanes.start(
                        where,
                        _process_partition(
                            where, records, process, stop, positions, finished, batch_size
                        ),
                    )
                if not batches:
                    await wait_for_any([appended, stop, lanes.finished], self._poll_interval)
            await lanes.check()
        finally:
            await lanes.finish()
            await _commit(event_log, group, finished)


async def _commit(event_log: EventLog, group: str, finished: dict[TopicPartition, int]) -> None:
    """Commit the offsets the lanes finished, in one write."""
    if finished:
        offsets = dict(finished)
        finished.clear()  # a lane finishing during the write notes its offset for the next one
        await event_log.commit_all(group, offsets)


async def _process_partition(
    where: TopicPartition,
    records: list[IncomingRecord],
    process: ProcessBatch,
    stop: asyncio.Event,
    positions: dict[TopicPartition, int],
    finished: dict[TopicPartition, int],
    batch_size: int,
) -> None:
    next_offset: int | None = None
    try:
        for batch in chunked(records, batch_size):
            if stop.is_set():
                break
            await process(batch)
            next_offset = batch[-1].offset + 1
    finally:
        if next_offset is not None:
            finished[where] = next_offset
            positions[where] = next_offset
