"""Retention in the registry: once the policy's period after a household's deregistration has
passed, its members' personal data is anonymised (names also in its versions, ID numbers with
their blind index and tail, phones, birth dates, the contact); the household's ids stay.
Households deregistered more recently, and active ones however old, are untouched."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from linli_registry.adapters import tables
from linli_registry.app import retention_job
from linli_registry.service.retention import ANONYMISED_NAME
from linli_registry.settings import RegistrySettings
from linli_shared.clock import FixedClock
from linli_shared.db import Database
from linli_shared.settings import PlatformSettings

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PERIOD = timedelta(days=1095)  # deregistered_members in policy 2026.1


async def _household(database: Database, deregistered_at: datetime | None) -> uuid.UUID:
    household_id = uuid.uuid4()
    members = [
        {
            "household_id": household_id,
            "position": position,
            "name": name,
            "relation": relation,
            "birth_date": date(1970 + position, 1, 2),
            "id_number_enc": f"sealed-id-{position}",
            "id_number_index": f"index-{household_id}-{position}",
            "id_tail": "123X",
            "phone_enc": f"sealed-phone-{position}",
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
                contact_phone_enc="sealed-contact-phone",
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


async def test_members_of_households_deregistered_past_the_period_are_anonymised_and_no_others(
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
    for member, old in zip(state["members"], before[inside]["members"], strict=True):
        assert member["name"] == ANONYMISED_NAME
        assert member["birth_date"] is None
        assert member["id_number_enc"] is None
        assert member["id_number_index"] is None
        assert member["id_tail"] is None
        assert member["phone_enc"] is None
        assert member["relation"] == old["relation"]
        assert member["resident_id"] is not None
    assert state["household"]["contact_email"] == ""
    assert state["household"]["contact_phone_enc"] is None
    assert state["household"]["address"] == "幸福路 12 号"
    assert state["household"]["status"] == "deregistered"
    [version] = state["history"]
    assert [m["name"] for m in version["members"]] == [ANONYMISED_NAME] * 2
    assert version["address"] == "幸福路 12 号"
    for household in (inside, active):
        assert await _state(database, household) == before[household]

    again = await retention_job(database, settings, FixedClock(NOW)).run_once()
    assert again.counts["deregistered_members"] == 0, "anonymised once"
