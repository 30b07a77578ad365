"""What only the embedded log has to answer for: its hash, its file, its in-process groups."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from linli_shared.messaging.embedded import (
    EmbeddedTransport,
    EventLog,
    open_log_paths,
    partition_for,
)
from linli_shared.messaging.records import IncomingRecord, OutgoingRecord
from tests.contract.conftest import consume, values

TOPIC = "embedded.v1"


def test_a_key_keeps_its_partition_across_versions_and_processes() -> None:
    """Logs outlive upgrades: a changed hash would put a key's new records on another partition,
    breaking per-key order for what is already in the file."""
    assert [partition_for(key, 3) for key in ("a", "household-1", "张伟", "")] == [0, 1, 2, 0]
    assert partition_for("3f2b8a1e-0c4d-4e8f-9a7b-1c2d3e4f5a6b", 12) == 10


async def test_the_file_has_the_documented_tables(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    transport = EmbeddedTransport(path, "schema")
    await transport.start()
    await transport.send([OutgoingRecord(TOPIC, "k", b"v", {"h": b"1"})])
    await transport.stop()
    assert open_log_paths() == []

    with sqlite3.connect(path) as db:
        [(mode,)] = db.execute("PRAGMA journal_mode").fetchall()
        rows = db.execute('SELECT topic, "partition", "offset", key, value FROM records').fetchall()
        [(partitions,)] = db.execute("SELECT partitions FROM topics WHERE name = ?", (TOPIC,))
    assert mode == "wal"
    assert rows == [(TOPIC, partition_for("k", 3), 0, b"k", b"v")]
    assert partitions == 3


async def test_records_appended_by_another_process_are_found(tmp_path: Path) -> None:
    """Another connection to the file (as another process has) wakes nobody here: polling."""
    path = tmp_path / "events.db"
    elsewhere = EventLog(path.resolve())
    await asyncio.wrap_future(elsewhere.start_opening())
    try:
        consumer = EmbeddedTransport(path, "here", poll_interval=0.05)
        await consumer.start()
        reading = asyncio.create_task(consume(consumer, "readers", [TOPIC], 2))
        await elsewhere.append([OutgoingRecord(TOPIC, "k", b"one")], 3)
        await elsewhere.append([OutgoingRecord(TOPIC, "k", b"two")], 3)
        assert values(await reading) == ["one", "two"]
        await consumer.stop()
    finally:
        await elsewhere.close()


async def test_a_second_consumer_of_a_group_stands_by_until_the_first_leaves(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.db"
    producer = EmbeddedTransport(path, "producer")
    first, second = EmbeddedTransport(path, "first"), EmbeddedTransport(path, "second")
    await producer.start()
    await producer.ensure_topics([TOPIC])
    got_first: list[IncomingRecord] = []
    got_second: list[IncomingRecord] = []
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    first_has: dict[int, asyncio.Event] = {3: asyncio.Event(), 4: asyncio.Event()}

    async def to_first(record: IncomingRecord) -> None:
        got_first.append(record)
        if len(got_first) in first_has:
            first_has[len(got_first)].set()

    async def to_second(record: IncomingRecord) -> None:
        got_second.append(record)
        if record.value == b"v4":
            stop_second.set()

    running_first = asyncio.create_task(first.consume("group", [TOPIC], to_first, stop_first))
    await producer.send([OutgoingRecord(TOPIC, "k", f"v{i}".encode()) for i in range(3)])
    await asyncio.wait_for(first_has[3].wait(), 30)

    # The second joins while the first is active: what comes now is still the first's.
    running_second = asyncio.create_task(second.consume("group", [TOPIC], to_second, stop_second))
    await producer.send([OutgoingRecord(TOPIC, "k", b"v3")])
    await asyncio.wait_for(first_has[4].wait(), 30)

    # The first leaves; the second takes over from the group's committed offset.
    stop_first.set()
    await asyncio.wait_for(running_first, 30)
    await producer.send([OutgoingRecord(TOPIC, "k", b"v4")])
    await asyncio.wait_for(running_second, 30)
    await producer.stop()

    assert values(got_first) == ["v0", "v1", "v2", "v3"]
    assert values(got_second) == ["v4"]
