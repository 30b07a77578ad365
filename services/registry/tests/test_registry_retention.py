"""Retention in the registry: once the policy's period after a household's deregistration has
passed, the household is erased (its members, address and contact, also in its versions) and
every service is asked to erase its copies; the household's ids stay. Households deregistered
more recently, and active ones however old, are untouched. An access request goes with all it
gathered once the policy's period after its completion has passed; one completed more recently,
or still in progress however old, stays; before the version that brought the period in, none
goes."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from linli_registry.adapters import tables
from linli_registry.app import retention_job
from linli_registry.settings import RegistrySettings
from linli_shared.clock import FixedClock
from linli_shared.contracts import CATALOGUE
from linli_shared.contracts.erasure import ErasureRequested
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope
from linli_shared.settings import PlatformSettings

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PERIOD = timedelta(days=1095)  # deregistered_members in policy 2026.1
# access_requests came with policy 2026.2, in force from 2026-12-03 (Asia/Shanghai).
LATER = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
ANSWER_PERIOD = timedelta(days=30)


async def _household(database: Database, deregistered_at: datetime | None) -> uuid.UUID:
    household_id = uuid.uuid4()
    cipher = RegistrySettings().cipher()
    members = [
        {
            "household_id": household_id,
            "position": position,
            "name": name,
            "relation": relation,
            "birth_date": date(1970 + position, 1, 2),
            "id_number_enc": cipher.encrypt(f"11010519700102{position:03d}X"),
            "id_number_index": f"index-{household_id}-{position}",
            "id_tail": "123X",
            "phone_enc": cipher.encrypt(f"1380000000{position}"),
            "resident_id": uuid.uuid4(),
        }
        for position, (name, relation) in enumerate([("张伟", "head"), ("李娜", "spouse")])
    ]
    summary = {
        "status": "deregistered" if deregistered_at else "active",
        "address": "幸福路 12 号",
        "members": [
            {"name": m["name"], "relation": m["relation"], "resident_id": str(m["resident_id"])}
            for m in members
        ],
    }
    async with database.transaction() as connection:
        await connection.execute(
            insert(tables.households).values(
                id=household_id,
                community_id="dongcheng-01",
                grid_id="grid-03",
                address="幸福路 12 号",
                contact_email="zhang@example.cn",
                contact_phone_enc=cipher.encrypt("13900000000"),
                registered_at=NOW - timedelta(days=4000),
                version=2 if deregistered_at else 1,
                status="deregistered" if deregistered_at else "active",
                deregistered_at=deregistered_at,
            )
        )
        await connection.execute(insert(tables.members), members)
        await connection.execute(
            insert(tables.household_history).values(
                household_id=household_id,
                version=1,
                change="registered",
                changed_at=NOW - timedelta(days=4000),
                changed_by="staff-1",
                summary=summary,
            )
        )
    return household_id


async def _state(database: Database, household_id: uuid.UUID) -> dict[str, Any]:
    households, members, history = tables.households, tables.members, tables.household_history
    async with database.connect() as connection:
        household = (
            (await connection.execute(select(households).where(households.c.id == household_id)))
            .mappings()
            .one()
        )
        rows = (
            (
                await connection.execute(
                    select(members)
                    .where(members.c.household_id == household_id)
                    .order_by(members.c.position)
                )
            )
            .mappings()
            .all()
        )
        versions = (
            await connection.execute(
                select(history.c.summary).where(history.c.household_id == household_id)
            )
        ).scalars()
        return {
            "household": dict(household),
            "members": [dict(row) for row in rows],
            "history": list(versions),
        }


async def test_households_deregistered_past_the_period_are_erased_everywhere_and_no_others(
    database: Database,
) -> None:
    expired = await _household(database, NOW - PERIOD - timedelta(minutes=1))
    inside = await _household(database, NOW - PERIOD + timedelta(minutes=1))
    active = await _household(database, None)
    before = {household: await _state(database, household) for household in (inside, active)}
    settings = RegistrySettings(
        database_url=database.url, platform=PlatformSettings(prune_batch_size=1)
    )
    job = retention_job(database, settings, FixedClock(NOW))

    run = await job.run_once()

    assert run.counts["deregistered_members"] == 2
    state = await _state(database, expired)
    assert state["members"] == []
    assert state["household"]["contact_email"] == ""
    assert state["household"]["contact_phone_enc"] is None
    assert state["household"]["address"] == ""
    assert state["household"]["status"] == "deregistered"
    assert state["household"]["deregistration_reason"] == "erased"
    for version in state["history"]:
        assert version["members"] == [] and version["address"] == ""
    async with database.connect() as connection:
        payloads = (await connection.execute(select(tables.outbox.c.payload))).scalars()
        asked = [Envelope.from_json(p).parse(CATALOGUE) for p in payloads]
    assert [e.household_id for e in asked if isinstance(e, ErasureRequested)] == [expired]
    for household in (inside, active):
        assert await _state(database, household) == before[household]

    again = await retention_job(database, settings, FixedClock(NOW)).run_once()
    assert again.counts["deregistered_members"] == 0, "erased once"


async def _access_request(database: Database, completed_at: datetime | None) -> uuid.UUID:
    """A request with each service's records as gathered; in progress without `completed_at`
    (then credit has not answered, and the key that opens its answer is still kept)."""
    request_id = uuid.uuid4()
    cipher = RegistrySettings().cipher()
    requested_at = (completed_at or LATER) - timedelta(days=400)
    answered = ["registry", "inspections", "notify", *(["credit"] if completed_at else [])]
    async with database.transaction() as connection:
        await connection.execute(
            insert(tables.access_requests).values(
                id=request_id,
                household_id=uuid.uuid4(),
                resident_id=uuid.uuid4(),
                reason="本人申请查阅复制",
                requested_by="staff-1",
                requested_at=requested_at,
                private_key_enc=None if completed_at else cipher.encrypt("private key"),
                completed_at=completed_at,
            )
        )
        await connection.execute(
            insert(tables.access_answers),
            [
                {
                    "access_request_id": request_id,
                    "service": service,
                    "record_count": 1,
                    "records_enc": cipher.encrypt('[{"what": {"name": "张伟"}}]'),
                    "answered_at": requested_at,
                }
                for service in answered
            ],
        )
    return request_id


async def _gathered(database: Database) -> dict[uuid.UUID, int]:
    """Each access request kept, with how many services' answers it keeps."""
    requests, answers = tables.access_requests, tables.access_answers
    async with database.connect() as connection:
        kept = (await connection.execute(select(requests.c.id))).scalars().all()
        counts: dict[uuid.UUID, int] = dict(
            (
                await connection.execute(
                    select(answers.c.access_request_id, func.count()).group_by(
                        answers.c.access_request_id
                    )
                )
            ).all()
        )
    assert set(counts) <= set(kept), "no answer outlives its request"
    return {request: counts.get(request, 0) for request in kept}


async def test_access_requests_completed_past_the_period_go_with_all_they_gathered(
    database: Database,
) -> None:
    expired = [
        await _access_request(database, LATER - ANSWER_PERIOD - timedelta(minutes=m))
        for m in (1, 2, 3)
    ]
    inside = await _access_request(database, LATER - ANSWER_PERIOD + timedelta(minutes=1))
    waiting = await _access_request(database, None)  # started 400 days ago, still in progress
    settings = RegistrySettings(
        database_url=database.url, platform=PlatformSettings(prune_batch_size=2)
    )

    run = await retention_job(database, settings, FixedClock(LATER)).run_once()

    assert run.version == "2026.2"
    assert run.counts["access_requests"] == len(expired)
    assert run.cutoffs["access_requests"] == LATER - ANSWER_PERIOD
    assert await _gathered(database) == {inside: 4, waiting: 3}
    async with database.connect() as connection:
        entry = (
            await connection.execute(
                select(tables.audit.c.details, tables.audit.c.resource)
                .where(tables.audit.c.action == "retention")
                .order_by(tables.audit.c.id.desc())
                .limit(1)
            )
        ).one()
    assert entry.resource == "retention-policy:2026.2"
    assert entry.details["counts"]["access_requests"] == len(expired)

    again = await retention_job(database, settings, FixedClock(LATER)).run_once()
    assert again.counts["access_requests"] == 0


async def test_before_the_version_with_their_period_no_access_request_goes(
    database: Database,
) -> None:
    """Policy 2026.1 names no period for access requests: while it was in force they were kept."""
    old = await _access_request(database, NOW - timedelta(days=300))
    settings = RegistrySettings(database_url=database.url)

    run = await retention_job(database, settings, FixedClock(NOW)).run_once()

    assert run.version == "2026.1"
    assert "access_requests" not in run.counts and "access_requests" not in run.cutoffs
    assert await _gathered(database) == {old: 4}
