"""Sent outbox rows and remembered inbox ids are pruned past their retention, in batches,
on a real migrated PostgreSQL database; unsent rows and recent ids stay."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import insert, select

from conftest import MigratedDatabase
from linli_registry.adapters import tables
from linli_registry.app import DEFINITION
from linli_shared.clock import FixedClock
from linli_shared.db import Database
from linli_shared.messaging.inbox import Inbox
from linli_shared.messaging.retention import Pruner, Retention
from linli_shared.settings import PlatformSettings

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
RETENTION = Retention(
    outbox=timedelta(days=7), inbox=timedelta(days=45), interval_seconds=3600, batch_size=2
)


@pytest.fixture
async def database(migrated_database: MigratedDatabase) -> AsyncIterator[Database]:
    url = await migrated_database(DEFINITION)
    database = Database(url)
    yield database
    await database.dispose()


async def _outbox_row(database: Database, created_days_ago: float, sent: bool) -> str:
    event_id = str(uuid.uuid4())
    created = NOW - timedelta(days=created_days_ago)
    async with database.transaction() as connection:
        await connection.execute(
            insert(tables.outbox).values(
                event_id=event_id,
                topic="linli.registry.v1",
                partition_key="k",
                event_type="linli.registry.household.registered.v1",
                payload=b"{}",
                created_at=created,
                published_at=created + timedelta(seconds=1) if sent else None,
            )
        )
    return event_id


async def _inbox_row(database: Database, processed_days_ago: float, group: str) -> str:
    event_id = str(uuid.uuid4())
    async with database.transaction() as connection:
        await connection.execute(
            insert(tables.inbox).values(
                consumer_group=group,
                event_id=event_id,
                event_type="linli.inspections.inspection.failed.v1",
                processed_at=NOW - timedelta(days=processed_days_ago),
            )
        )
    return event_id


async def _ids(database: Database, column: str) -> set[str]:
    table = tables.outbox if column == "outbox" else tables.inbox
    async with database.connect() as connection:
        return set((await connection.execute(select(table.c.event_id))).scalars())


def _pruned(table: str) -> float:
    value = REGISTRY.get_sample_value(
        "linli_rows_pruned_total", {"service": "registry", "table": table}
    )
    return value or 0.0


async def test_old_sent_rows_and_old_inbox_ids_are_deleted_in_batches(database: Database) -> None:
    old_sent = [await _outbox_row(database, days, sent=True) for days in (8, 9, 30, 31, 60)]
    recent_sent = await _outbox_row(database, 6.9, sent=True)
    old_unsent = await _outbox_row(database, 60, sent=False)  # never published: must stay
    old_seen = [await _inbox_row(database, days, group) for days in (46, 90) for group in "ab"]
    recent_seen = await _inbox_row(database, 44, "a")
    before = (_pruned("outbox"), _pruned("inbox"))

    pruner = Pruner(
        database,
        tables.outbox,
        Inbox(tables.inbox),
        RETENTION,
        service="registry",
        clock=FixedClock(NOW),
    )
    assert await pruner.prune_once() == (len(old_sent), len(old_seen))

    assert await _ids(database, "outbox") == {recent_sent, old_unsent}
    assert await _ids(database, "inbox") == {recent_seen}
    assert _pruned("outbox") - before[0] == len(old_sent)
    assert _pruned("inbox") - before[1] == len(old_seen)
    assert await pruner.prune_once() == (0, 0), "nothing left past retention"


def test_the_inbox_outlasts_every_way_a_record_can_come_back() -> None:
    """A forgotten id that is delivered again is applied again: the inbox must remember longer
    than the topics keep records (30 days, deploy/k8s/base/kafka-topics.yaml) plus the age a
    log segment may reach before Kafka deletes it (7 days by default)."""
    settings = PlatformSettings()
    assert settings.inbox_retention_days > 30 + 7
    assert settings.retention().inbox == timedelta(days=settings.inbox_retention_days)
