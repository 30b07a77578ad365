"""A consumer group's dead-letter counters exist from the start at zero, so the first dead letter
is an increase that `increase(linli_dead_letters_total[10m]) > 0` sees (a counter series born at
1 looks like no increase at all)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import REGISTRY
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_shared.contracts import CATALOGUE, HouseholdRegistered, InspectionFailed
from linli_shared.contracts.base import EventData
from linli_shared.db import Database
from linli_shared.messaging.embedded import EmbeddedTransport
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.inbox import Inbox, inbox_table
from linli_shared.messaging.processing import RecordProcessor, RetryPolicy, Subscription


async def _ignore(connection: AsyncConnection, event: EventData, envelope: Envelope) -> None:
    return None


async def test_a_groups_dead_letter_counters_start_at_zero(tmp_path: Path) -> None:
    subscription = Subscription(
        "linli-counting", {HouseholdRegistered: _ignore, InspectionFailed: _ignore}
    )
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    RecordProcessor(
        subscription,
        database,
        Inbox(inbox_table(MetaData())),
        CATALOGUE,
        EmbeddedTransport(tmp_path / "events.db", "counting"),
        RetryPolicy(),
        asyncio.Event(),
    )
    await database.dispose()

    for topic in subscription.topics:
        for reason in ("malformed", "handler-failed"):
            labels = {"group": "linli-counting", "topic": topic, "reason": reason}
            assert REGISTRY.get_sample_value("linli_dead_letters_total", labels) == 0
