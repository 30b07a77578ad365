"""Retention in credit: with the clock past the period, exactly the green-channel checks made
before it go; the ledger and the accounts are no category and stay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from linli_credit.adapters import tables
from linli_credit.app import retention_job
from linli_credit.settings import CreditSettings
from linli_shared.clock import FixedClock
from linli_shared.db import Database
from linli_shared.settings import PlatformSettings

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PERIOD = timedelta(days=1095)  # green_channel_checks in policy 2026.1


async def _check(database: Database, checked_at: datetime) -> int:
    async with database.transaction() as connection:
        result = await connection.execute(
            insert(tables.green_channel_checks)
            .values(
                subject_id=uuid.uuid4(),
                checked_by="service-hall-1",
                checked_at=checked_at,
                granted=True,
                grade="AA",
            )
            .returning(tables.green_channel_checks.c.id)
        )
        return int(result.scalar_one())


async def test_exactly_the_green_channel_checks_past_the_period_go(database: Database) -> None:
    expired = [await _check(database, NOW - PERIOD - timedelta(minutes=n)) for n in (1, 2, 900)]
    inside = await _check(database, NOW - PERIOD + timedelta(minutes=1))
    settings = CreditSettings(
        database_url=database.url, platform=PlatformSettings(prune_batch_size=2)
    )

    run = await retention_job(database, settings, FixedClock(NOW)).run_once()

    assert run.counts["green_channel_checks"] == len(expired)
    async with database.connect() as connection:
        left = set((await connection.execute(select(tables.green_channel_checks.c.id))).scalars())
    assert left == {inside}
