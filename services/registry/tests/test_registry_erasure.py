"""Erasing a resident or a household in the registry: its records and every version of its
history lose the person, the events it published are forgotten, the other services are asked,
and the erasure completes once all have answered (SQLite and PostgreSQL; the API on
PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from linli_registry.adapters import tables
from linli_registry.domain.household import HEAD, Household, Member
from linli_registry.service import UseCases
from linli_registry.service.subject_keys import SubjectKeyDestroyed
from linli_shared.clock import FixedClock
from linli_shared.contracts import CATALOGUE, HouseholdMembersChanged
from linli_shared.contracts.base import EventData
from linli_shared.contracts.erasure import (
    CreditErasureApplied,
    ErasureApplied,
    ErasureCompleted,
    ErasureRequested,
    InspectionsErasureApplied,
    NotifyErasureApplied,
)
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.messaging.envelope import Envelope
from linli_shared.reach import Reach
from linli_shared.rules import RuleViolation
from services.registry.tests.family import (
    ADDRESS,
    NAME,
    SPOUSE_ID_NUMBER,
    SPOUSE_NAME,
    register_family,
    spouse_of,
)
from tests.support.grid_scope import bearer


async def _stored_text(database: Database, household: Household) -> str:
    """Everything the registry's tables hold of the household, as text."""
    async with database.connect() as connection:
        parts = []
        for table, column in (
            (tables.households, tables.households.c.id),
            (tables.members, tables.members.c.household_id),
            (tables.household_history, tables.household_history.c.household_id),
        ):
            rows = await connection.execute(select(table).where(column == household.id))
            parts += [json.dumps([str(v) for v in row], ensure_ascii=False) for row in rows]
    return "\n".join(parts)


async def _events(database: Database) -> list[EventData]:
    async with database.connect() as connection:
        rows = (await connection.execute(select(tables.outbox.c.payload))).scalars()
        return [Envelope.from_json(payload).parse(CATALOGUE) for payload in rows]


async def test_an_erased_resident_is_gone_from_the_household_and_every_version_of_its_history(
    registry: UseCases, database: Database
) -> None:
    household = await register_family(registry)
    await registry.changes.move_household(
        household.id,
        version=1,
        grid_id="g-07",
        address=ADDRESS + " 室",
        compound_id=None,
        building_id=None,
        changed_by="staff",
    )
    assert SPOUSE_NAME in await _stored_text(database, household)

    erasure = await registry.erasure.erase(
        household.id, resident_id=spouse_of(household), reason="her request", requested_by="staff"
    )

    stored = await _stored_text(database, household)
    assert SPOUSE_NAME not in stored and str(spouse_of(household)) not in stored
    assert NAME in stored  # the head stays, in the household and in its history
    current = await registry.disclosure.get_household(household.id)
    assert [m.name for m in current.members] == [NAME]
    assert current.version == 3
    assert erasure.removed["registry"]["members"] == 1
    assert erasure.removed["registry"]["history_versions"] == 2  # registered, moved
    assert erasure.status == "in_progress"
    assert erasure.waiting_for == ("inspections", "credit", "notify")


async def test_an_erased_household_keeps_only_its_ids_place_and_dates(
    registry: UseCases, database: Database
) -> None:
    household = await register_family(registry)

    await registry.erasure.erase(
        household.id, resident_id=None, reason="retention", requested_by="staff"
    )

    stored = await _stored_text(database, household)
    for personal in (NAME, SPOUSE_NAME, ADDRESS, "wang@example.com", SPOUSE_ID_NUMBER[-4:]):
        assert personal not in stored
    current = await registry.disclosure.get_household(household.id)
    assert current.members == () and current.address == "" and current.contact_phone is None
    for subject in (household.id, *(m.resident_id for m in household.members)):
        assert subject is not None
        with pytest.raises(SubjectKeyDestroyed):
            await registry.subject_keys.key_of(subject)
    assert current.status.value == "deregistered" and current.deregistration_reason == "erased"
    assert (current.community_id, current.grid_id) == ("c-xingfu", "g-07")


async def test_erasure_announces_the_new_state_and_asks_every_service(
    registry: UseCases, database: Database
) -> None:
    household = await register_family(registry)
    spouse = spouse_of(household)

    erasure = await registry.erasure.erase(
        household.id, resident_id=spouse, reason="her request", requested_by="staff"
    )

    *_, members, asked = await _events(database)
    assert isinstance(asked, ErasureRequested)
    assert (asked.erasure_id, asked.household_id, asked.resident_id) == (
        erasure.id,
        household.id,
        spouse,
    )
    assert isinstance(members, HouseholdMembersChanged)
    assert [m.resident_id for m in members.members] == [household.members[0].resident_id]
    with pytest.raises(SubjectKeyDestroyed):  # every sealed copy of her name is unreadable
        await registry.subject_keys.key_of(spouse)
    await registry.subject_keys.key_of(household.id)  # the household's stays
    assert erasure.removed["registry"]["keys_destroyed"] == 1


async def test_the_events_already_published_of_the_household_are_forgotten(
    registry: UseCases, database: Database, clock: FixedClock
) -> None:
    household, other = await register_family(registry), await _household_elsewhere(registry)
    async with database.transaction() as connection:
        await connection.execute(update(tables.outbox).values(published_at=clock.now()))

    erasure = await registry.erasure.erase(
        household.id, resident_id=None, reason="retention", requested_by="staff"
    )

    assert erasure.removed["registry"]["published_events"] == 1
    keys = {event.partition_key() for event in await _events(database)}
    assert str(other.id) in keys  # another household's events stay
    remaining = [e for e in await _events(database) if e.partition_key() == str(household.id)]
    assert {type(e).__name__ for e in remaining} == {
        "HouseholdMembersChanged",
        "HouseholdDeregistered",
        "ErasureRequested",
    }


async def _household_elsewhere(registry: UseCases) -> Household:
    return await registry.registration.register_household(
        community_id="c-xingfu",
        grid_id="g-08",
        address="和平路 1 号",
        members=[Member("赵六", HEAD)],
        contact_email="zhao@example.com",
    )


async def test_the_head_of_a_registered_household_is_erased_only_once_another_member_is_head(
    registry: UseCases,
) -> None:
    household = await register_family(registry)
    head = household.members[0].resident_id
    assert head is not None

    with pytest.raises(RuleViolation) as refused:
        await registry.erasure.erase(
            household.id, resident_id=head, reason="his request", requested_by="staff"
        )
    assert refused.value.field == "resident_id"
    with pytest.raises(RuleViolation):
        await registry.erasure.erase(
            household.id, resident_id=uuid.uuid4(), reason="nobody", requested_by="staff"
        )


async def test_an_erasure_outside_the_callers_grids_is_not_found(registry: UseCases) -> None:
    household = await register_family(registry)

    with pytest.raises(NotFound):
        await registry.erasure.erase(
            household.id,
            resident_id=None,
            reason="retention",
            requested_by="worker",
            reach=Reach(grids=frozenset({"g-08"})),
        )


async def test_an_erasure_completes_once_every_service_has_answered_once(
    registry: UseCases, database: Database, clock: FixedClock
) -> None:
    household = await register_family(registry)
    erasure = await registry.erasure.erase(
        household.id, resident_id=spouse_of(household), reason="her request", requested_by="staff"
    )

    def answer(model: type[ErasureApplied], removed: dict[str, int]) -> ErasureApplied:
        return model(
            erasure_id=erasure.id,
            household_id=household.id,
            resident_id=erasure.resident_id,
            removed=removed,
            applied_at=clock.now(),
        )

    await registry.erasure.record_answer(answer(NotifyErasureApplied, {"notice_texts": 2}))
    await registry.erasure.record_answer(answer(NotifyErasureApplied, {"notice_texts": 9}))
    await registry.erasure.record_answer(answer(CreditErasureApplied, {"appeal_texts": 0}))
    assert (await registry.erasure.get(erasure.id)).status == "in_progress"
    clock.set(clock.now() + timedelta(seconds=5))
    await registry.erasure.record_answer(answer(InspectionsErasureApplied, {"finding_notes": 1}))

    done = await registry.erasure.get(erasure.id)
    assert done.status == "completed" and done.completed_at == clock.now()
    assert done.removed["notify"] == {"notice_texts": 2}  # the repeated answer changed nothing
    completed = [e for e in await _events(database) if isinstance(e, ErasureCompleted)]
    assert len(completed) == 1
    assert completed[0].removed == {s: dict(c) for s, c in done.removed.items()}


async def test_only_staff_and_admins_erase_and_a_grid_worker_only_in_its_grids(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post(
        "/v1/households",
        json={
            "community_id": "c-xingfu",
            "grid_id": "g-07",
            "address": ADDRESS,
            "members": [{"name": NAME, "relation": "head"}],
            "contact_email": "wang@example.com",
        },
        headers=bearer("community_staff"),
    )
    assert created.status_code == 201, created.text
    url = f"/v1/households/{created.json()['id']}/erasures"
    body = {"reason": "the household's request"}

    for role, grids in (("inspector", ["g-07"]), ("credit_officer", []), ("service", [])):
        refused = await client.post(url, json=body, headers=bearer(role, grids))
        assert refused.status_code == 403, role
    elsewhere = await client.post(url, json=body, headers=bearer("grid_worker", ["g-08"]))
    assert elsewhere.status_code == 404
    missing = await client.post(url, json={}, headers=bearer("admin"))
    assert missing.status_code == 422
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert "reason" in missing.text

    accepted = await client.post(url, json=body, headers=bearer("grid_worker", ["g-07"]))
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "in_progress"
    read = await client.get(f"/v1/erasures/{accepted.json()['id']}", headers=bearer("admin"))
    assert read.json()["waiting_for"] == ["inspections", "credit", "notify"]
    hidden = await client.get(
        f"/v1/erasures/{accepted.json()['id']}", headers=bearer("grid_worker", ["g-08"])
    )
    assert hidden.status_code == 404
