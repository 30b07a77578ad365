"""The retention job's mechanism, on each database the services run on (the registry's, whose
categories besides its own are every service's): with a clock moved past each period, exactly
the expired outbox rows, inbox ids and audit entries go, in batches; one audit entry per run;
the database itself refuses to delete a young audit entry; only admins start a run."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import delete, insert, select, update

from conftest import MigratedDatabase
from linli_registry.adapters import tables
from linli_registry.app import DEFINITION, create_app, retention_job
from linli_registry.settings import RegistrySettings
from linli_shared.auth import mint_dev_token
from linli_shared.clock import FixedClock
from linli_shared.db import Database
from linli_shared.retention import RetentionJob
from linli_shared.settings import PlatformSettings
from tests.support.api import api_client

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
# The shipped policy 2026.1 (services/registry/src/linli_registry/policies/retention/).
OUTBOX_DAYS, INBOX_DAYS, AUDIT_DAYS = 7, 45, 1095


@pytest.fixture
async def url(any_migrated_database: MigratedDatabase) -> str:
    return await any_migrated_database(DEFINITION)


@pytest.fixture
async def database(url: str) -> AsyncIterator[Database]:
    database = Database(url)
    yield database
    await database.dispose()


def _job(database: Database, url: str, now: datetime = NOW) -> RetentionJob:
    settings = RegistrySettings(database_url=url, platform=PlatformSettings(prune_batch_size=2))
    return retention_job(database, settings, FixedClock(now))


async def _outbox_row(database: Database, created: datetime, sent: bool) -> str:
    event_id = str(uuid.uuid4())
    async with database.transaction() as connection:
        await connection.execute(
            insert(tables.outbox).values(
                event_id=event_id,
                topic="linli.registry.v1",
                partition_key="k",
                event_type="linli.registry.household.registered.v1",
                payload=b"{}",
                created_at=created - timedelta(seconds=1),
                published_at=created if sent else None,
            )
        )
    return event_id


async def _inbox_row(database: Database, processed: datetime, group: str) -> str:
    event_id = str(uuid.uuid4())
    async with database.transaction() as connection:
        await connection.execute(
            insert(tables.inbox).values(
                consumer_group=group,
                event_id=event_id,
                event_type="linli.inspections.inspection.failed.v1",
                processed_at=processed,
            )
        )
    return event_id


async def _audit_entry(database: Database, at: datetime, actor: str = "someone") -> int:
    async with database.transaction() as connection:
        result = await connection.execute(
            insert(tables.audit)
            .values(
                at=at,
                actor=actor,
                roles="admin",
                action="write",
                method="POST",
                path="/v1/households",
                status="201",
            )
            .returning(tables.audit.c.id)
        )
        return int(result.scalar_one())


async def _ids(database: Database, column: Any) -> set[Any]:
    async with database.connect() as connection:
        return set((await connection.execute(select(column))).scalars())


async def _runs(database: Database) -> list[dict[str, Any]]:
    audit = tables.audit
    async with database.connect() as connection:
        rows = await connection.execute(
            select(audit).where(audit.c.action == "retention").order_by(audit.c.id)
        )
        return [dict(row) for row in rows.mappings()]


def _metric(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_exactly_the_sent_outbox_rows_and_inbox_ids_past_their_periods_go(
    database: Database, url: str
) -> None:
    expired_sent = [
        await _outbox_row(database, NOW - (OUTBOX_DAYS + days) * DAY - timedelta(minutes=1), True)
        for days in (0, 1, 30, 60, 400)
    ]
    just_inside = await _outbox_row(database, NOW - OUTBOX_DAYS * DAY + timedelta(minutes=1), True)
    never_sent = await _outbox_row(database, NOW - 400 * DAY, sent=False)
    expired_seen = [
        await _inbox_row(database, NOW - (INBOX_DAYS + days) * DAY - timedelta(minutes=1), group)
        for days in (0, 90)
        for group in ("linli-credit", "linli-notify")
    ]
    seen_inside = await _inbox_row(database, NOW - INBOX_DAYS * DAY + timedelta(minutes=1), "g")
    before = _metric("linli_retention_rows_total", {"service": "registry", "category": "outbox"})

    run = await _job(database, url).run_once()

    assert run.counts["outbox"] == len(expired_sent)
    assert run.counts["inbox"] == len(expired_seen)
    assert run.counts["deregistered_members"] == run.counts["audit_trail"] == 0
    assert await _ids(database, tables.outbox.c.event_id) == {just_inside, never_sent}
    assert await _ids(database, tables.inbox.c.event_id) == {seen_inside}
    after = _metric("linli_retention_rows_total", {"service": "registry", "category": "outbox"})
    assert after - before == len(expired_sent)
    again = await _job(database, url).run_once()
    assert again.total == 0, "nothing is left past its period"


async def test_exactly_the_audit_entries_past_the_period_go_and_each_run_leaves_one_entry(
    database: Database, url: str
) -> None:
    expired = [
        await _audit_entry(database, NOW - AUDIT_DAYS * DAY - timedelta(minutes=minutes))
        for minutes in (1, 60 * 24 * 400)
    ]
    inside = await _audit_entry(database, NOW - AUDIT_DAYS * DAY + timedelta(minutes=1))
    recent = await _audit_entry(database, NOW - DAY)
    assert len(expired) == 2

    run = await _job(database, url).run_once()

    assert run.counts["audit_trail"] == 2
    remaining = await _ids(database, tables.audit.c.id)
    [entry] = await _runs(database)
    assert remaining == {inside, recent, entry["id"]}
    assert entry["actor"] == "system:retention"
    assert entry["status"] == "200"
    assert entry["resource"] == "retention-policy:2026.1"
    details = entry["details"]
    assert details["policy_version"] == "2026.1"
    assert details["trigger"] == "schedule"
    assert details["counts"] == {
        "deregistered_members": 0,
        "audit_trail": 2,
        "outbox": 0,
        "inbox": 0,
    }
    assert details["cutoffs"]["audit_trail"] == (NOW - AUDIT_DAYS * DAY).isoformat()

    await _job(database, url).run_once()
    assert len(await _runs(database)) == 2, "one entry per run, even when nothing went"


async def test_the_database_refuses_to_delete_a_young_audit_entry_or_to_change_any(
    database: Database,
) -> None:
    """Only entries older than the floor (180 days, by the database's own clock) may be
    deleted at all, whoever asks; no entry may be changed."""
    audit = tables.audit
    young = await _audit_entry(database, datetime.now(UTC) - 179 * DAY)
    old = await _audit_entry(database, datetime.now(UTC) - 181 * DAY)
    with pytest.raises(Exception, match="append-only"):
        async with database.transaction() as connection:
            await connection.execute(delete(audit).where(audit.c.id == young))
    with pytest.raises(Exception, match="append-only"):
        async with database.transaction() as connection:
            await connection.execute(update(audit).where(audit.c.id == old).values(actor="x"))
    async with database.transaction() as connection:
        await connection.execute(delete(audit).where(audit.c.id == old))
    assert await _ids(database, audit.c.id) == {young}


async def test_a_job_whose_clock_runs_ahead_cannot_delete_young_audit_entries(
    database: Database, url: str
) -> None:
    young = await _audit_entry(database, datetime.now(UTC) - DAY)
    failed_before = _metric(
        "linli_retention_runs_total", {"service": "registry", "outcome": "failed"}
    )
    ahead = datetime.now(UTC) + (AUDIT_DAYS + 30) * DAY

    with pytest.raises(Exception, match="append-only"):
        await _job(database, url, now=ahead).run_once()

    assert young in await _ids(database, tables.audit.c.id)
    [entry] = await _runs(database)
    assert entry["status"] == "500"
    assert entry["details"]["error"].startswith("audit_trail: ")
    failed_after = _metric(
        "linli_retention_runs_total", {"service": "registry", "outcome": "failed"}
    )
    assert failed_after - failed_before == 1


async def test_only_admins_may_read_the_policy_and_start_a_run(url: str) -> None:
    app = create_app(RegistrySettings(database_url=url))
    platform = PlatformSettings()
    admin = mint_dev_token(platform, "it-admin", ["admin"])
    async with api_client(app, "registry") as client:
        for role in ("community_staff", "grid_worker", "credit_officer", "service", "partner"):
            token = mint_dev_token(platform, f"{role}-user", [role], grids=["grid-1"])
            headers = {"Authorization": f"Bearer {token}"}
            assert (await client.post("/v1/retention/runs", headers=headers)).status_code == 403
            assert (await client.get("/v1/retention/policy", headers=headers)).status_code == 403
        headers = {"Authorization": f"Bearer {admin}"}
        policy = await client.get("/v1/retention/policy", headers=headers)
        run = await client.post("/v1/retention/runs", headers=headers)
        trail = await client.get("/v1/audit?action=retention", headers=headers)

    assert policy.status_code == 200
    periods = {p["category"]: p for p in policy.json()["periods"]}
    assert set(periods) == {
        "deregistered_members",
        "access_requests",
        "audit_trail",
        "outbox",
        "inbox",
        "dead_letters",
    }
    assert all(len(p["reason"]) > 40 for p in periods.values())
    assert run.status_code == 200, run.text
    assert run.json()["policy_version"] == "2026.2"
    [entry] = trail.json()["items"]
    assert entry["actor"] == "it-admin"
    assert entry["details"]["trigger"] == "api"
