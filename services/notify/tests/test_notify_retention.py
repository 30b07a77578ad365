"""Retention in notify: with the clock past each period, exactly what expired goes. A settled
notice past its period keeps its row (type, dates, channel, status) but loses what it said;
delivery attempts past theirs are deleted; settled partner messages past theirs go with their
attempts. Pending notices and messages, and everything inside its period, stay as they were."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, insert, select

from linli_notify.adapters import tables
from linli_notify.app import retention_job
from linli_notify.settings import NotifySettings
from linli_shared.clock import FixedClock
from linli_shared.db import Database
from linli_shared.settings import PlatformSettings

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
# Policy 2026.1: notice_bodies, delivery_logs, webhook_messages.
BODIES, LOGS, WEBHOOKS = timedelta(days=1095), timedelta(days=365), timedelta(days=90)


async def _notice(database: Database, created_at: datetime, status: str) -> uuid.UUID:
    notice_id = uuid.uuid4()
    async with database.transaction() as connection:
        await connection.execute(
            insert(tables.notices).values(
                id=notice_id,
                recipient_id=uuid.uuid4(),
                notice_type="rectification",
                source_event_id=str(uuid.uuid4()),
                correlation_id="c-1",
                variables={"head_name": "张伟", "address": "幸福路 12 号"},
                status=status,
                attempts=1,
                created_at=created_at,
                next_attempt_at=created_at,
                delivered_at=created_at if status == "delivered" else None,
                channel="email",
                subject="整改通知" if status != "pending" else None,
                body="张伟：幸福路 12 号楼道堆物，请于 7 日内整改。"
                if status != "pending"
                else None,
            )
        )
    return notice_id


async def _delivery(database: Database, notice_id: uuid.UUID, attempted_at: datetime) -> int:
    async with database.transaction() as connection:
        result = await connection.execute(
            insert(tables.deliveries)
            .values(
                notice_id=notice_id,
                channel="email",
                address="zhang@example.cn",
                status="delivered",
                attempted_at=attempted_at,
            )
            .returning(tables.deliveries.c.id)
        )
        return int(result.scalar_one())


async def _endpoint(database: Database) -> uuid.UUID:
    endpoint_id = uuid.uuid4()
    async with database.transaction() as connection:
        await connection.execute(
            insert(tables.webhook_endpoints).values(
                id=endpoint_id,
                name="urban management",
                url="https://partner.example/hooks",
                secrets=[],
                notice_types=["escalation"],
                enabled=True,
                consecutive_failures=0,
                created_at=NOW - timedelta(days=2000),
            )
        )
    return endpoint_id


async def _message(
    database: Database, endpoint_id: uuid.UUID, created_at: datetime, status: str, attempts: int
) -> str:
    message_id = f"msg_{uuid.uuid4().hex}"
    async with database.transaction() as connection:
        await connection.execute(
            insert(tables.webhook_messages).values(
                id=message_id,
                endpoint_id=endpoint_id,
                notice_type="escalation",
                dedup_key=message_id,
                payload={"case_id": str(uuid.uuid4())},
                status=status,
                attempts=attempts,
                created_at=created_at,
                next_attempt_at=created_at,
            )
        )
        for _ in range(attempts):
            await connection.execute(
                insert(tables.webhook_attempts).values(
                    message_id=message_id, status="failed", status_code=503, attempted_at=created_at
                )
            )
    return message_id


async def _rows(database: Database, *columns: ColumnElement[Any]) -> dict[Any, tuple[Any, ...]]:
    async with database.connect() as connection:
        rows = await connection.execute(select(*columns))
        return {row[0]: tuple(row[1:]) for row in rows}


def _job(database: Database) -> Any:
    settings = NotifySettings(
        database_url=database.url, platform=PlatformSettings(prune_batch_size=2)
    )
    return retention_job(database, settings, FixedClock(NOW))


async def test_settled_notices_past_the_period_lose_what_they_said_and_nothing_else(
    database: Database,
) -> None:
    notices = tables.notices
    expired = [
        await _notice(database, NOW - BODIES - MINUTE, status) for status in ("delivered", "failed")
    ]
    inside = await _notice(database, NOW - BODIES + MINUTE, "delivered")
    pending = await _notice(database, NOW - BODIES - MINUTE, "pending")
    columns = (notices.c.id, notices.c.subject, notices.c.body, notices.c.variables)
    before = await _rows(database, *columns)

    run = await _job(database).run_once()

    assert run.counts["notice_bodies"] == 2
    after = await _rows(database, *columns)
    for notice_id in expired:
        assert after[notice_id] == (None, None, {})
    assert after[inside] == before[inside]
    assert after[pending] == before[pending]
    kept = await _rows(database, notices.c.id, notices.c.status, notices.c.delivered_at)
    assert set(kept) == set(before), "every notice row stays"
    assert kept[expired[0]][0] == "delivered" and kept[expired[0]][1] is not None
    assert (await _job(database).run_once()).counts["notice_bodies"] == 0


async def test_exactly_the_delivery_attempts_past_the_period_are_deleted(
    database: Database,
) -> None:
    notice = await _notice(database, NOW - LOGS - timedelta(days=1), "delivered")
    expired = [await _delivery(database, notice, NOW - LOGS - MINUTE * n) for n in (1, 2, 3)]
    inside = await _delivery(database, notice, NOW - LOGS + MINUTE)

    run = await _job(database).run_once()

    assert run.counts["delivery_logs"] == len(expired)
    assert set(await _rows(database, tables.deliveries.c.id)) == {inside}
    assert run.counts["notice_bodies"] == 0, "the notice is inside its own period"


async def test_exactly_the_settled_webhook_messages_past_the_period_go_with_their_attempts(
    database: Database,
) -> None:
    endpoint = await _endpoint(database)
    delivered = await _message(database, endpoint, NOW - WEBHOOKS - MINUTE, "delivered", 1)
    failed = await _message(database, endpoint, NOW - WEBHOOKS - MINUTE, "failed", 3)
    inside = await _message(database, endpoint, NOW - WEBHOOKS + MINUTE, "delivered", 1)
    pending = await _message(database, endpoint, NOW - WEBHOOKS - MINUTE, "pending", 2)

    run = await _job(database).run_once()

    assert run.counts["webhook_messages"] == 2 + 1 + 3
    assert set(await _rows(database, tables.webhook_messages.c.id)) == {inside, pending}
    attempts = tables.webhook_attempts
    remaining = await _rows(database, attempts.c.id, attempts.c.message_id)
    assert sorted(message for (message,) in remaining.values()) == sorted(
        [inside, pending, pending]
    )
    assert {delivered, failed}.isdisjoint(message for (message,) in remaining.values())
