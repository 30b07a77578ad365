"""Residents and organisations signed in for themselves, through the HTTP API.

A resident (a token with a resident claim) reaches their own record and their household's —
the household the registry has them in, as credit knows it from the registry's events (the
resident's account) — and nothing of a neighbour's, whatever id the URL or the query names: the
score, grade, entries and explanation, the green channel, appeals against the household's
entries. A property manager or shop reaches its organisation's own record the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from linli_credit.app import create_app
from linli_credit.consumers import subscriptions
from linli_credit.settings import CreditSettings
from linli_shared.contracts import HouseholdMembersChanged, OrganisationRegistered
from linli_shared.contracts.common import SubjectKind
from linli_shared.contracts.registry import ContactV1, MemberV1
from linli_shared.db import Database
from services.credit.tests.test_credit_grid_scope import Credit, failed_inspection, resident_of
from tests.support.api import api_client, assert_problem
from tests.support.grid_scope import COMMUNITY, bearer

GRID = "grid-a"
OFFICER = bearer("credit_officer", subject="officer-li")


@pytest.fixture
async def credit(database_url: str) -> AsyncIterator[Credit]:
    app = create_app(CreditSettings(database_url=database_url))
    database = Database(database_url)
    try:
        async with api_client(app, "credit") as client:
            yield Credit(client, subscriptions(app.state.use_cases), database)
    finally:
        await database.dispose()


def resident(resident_id: uuid.UUID) -> dict[str, str]:
    return bearer("resident", subject=f"person-{resident_id}", resident_id=resident_id)


async def reads(client: httpx.AsyncClient, subject: uuid.UUID, headers: dict[str, str]) -> set[int]:
    return {
        (await client.get(f"/v1/subjects/{subject}/{what}", headers=headers)).status_code
        for what in ("score", "entries", "explanation", "green-channel")
    }


async def test_a_resident_reads_their_households_record_and_their_own_and_no_neighbours(
    credit: Credit,
) -> None:
    ours, neighbour = await credit.household(GRID), await credit.household(GRID)
    me = resident(resident_of(ours))
    client = credit.client
    assert await reads(client, ours.household_id, me) == {200}
    assert await reads(client, resident_of(ours), me) == {200}
    for subject in (neighbour.household_id, resident_of(neighbour), uuid.uuid4()):
        assert await reads(client, subject, me) == {404}

    explanation = (
        await client.get(f"/v1/subjects/{ours.household_id}/explanation", headers=me)
    ).json()
    [entry] = explanation["entries"]
    assert entry["points"] < 0 and entry["cause"]["inspection_id"]
    green = await client.get(f"/v1/subjects/{ours.household_id}/green-channel", headers=me)
    assert green.json()["granted"] is False and green.json()["reason"]


async def test_a_resident_appeals_their_households_entry_and_follows_it_to_its_reversal(
    credit: Credit,
) -> None:
    ours, neighbour = await credit.household(GRID), await credit.household(GRID)
    me = resident(resident_of(ours))
    client = credit.client
    our_entry = await credit.entry_of(ours.household_id)
    their_entry = await credit.entry_of(neighbour.household_id)

    refused = await client.post(
        "/v1/appeals", json={"entry_id": their_entry, "grounds": "不是我家的"}, headers=me
    )
    assert_problem(refused, 404, "not-found")
    filed = await client.post(
        "/v1/appeals", json={"entry_id": our_entry, "grounds": "垃圾不是我家的"}, headers=me
    )
    assert filed.status_code == 201, filed.text
    appeal = filed.json()
    assert appeal["filed_by"] == f"resident:{resident_of(ours)}"
    # The neighbour's appeal, filed by staff, stays out of every list and read of ours.
    theirs = await client.post(
        "/v1/appeals", json={"entry_id": their_entry, "grounds": "邻居的申诉"}, headers=OFFICER
    )
    for params in ({}, {"subject_id": str(neighbour.household_id)}, {"state": "received"}):
        listed = (await client.get("/v1/appeals", params=params, headers=me)).json()
        assert {a["id"] for a in listed["items"]} <= {appeal["id"]}
        assert "邻居的申诉" not in str(listed)
    assert_problem(
        await client.get(f"/v1/appeals/{theirs.json()['id']}", headers=me), 404, "not-found"
    )

    upheld = await client.post(
        f"/v1/appeals/{appeal['id']}/decision",
        json={"outcome": "upheld", "reason": "查明非本户所为"},
        headers=OFFICER,
    )
    assert upheld.status_code == 200, upheld.text
    assert_problem(
        await client.post(
            f"/v1/appeals/{appeal['id']}/decision",
            json={"outcome": "rejected", "reason": "x"},
            headers=me,
        ),
        403,
        "forbidden",
    )
    followed = (await client.get(f"/v1/appeals/{appeal['id']}", headers=me)).json()
    assert followed["state"] == "upheld" and followed["reversal_entry_id"]
    score = (await client.get(f"/v1/subjects/{ours.household_id}/score", headers=me)).json()
    assert score["score"] == 1000


async def test_a_resident_who_left_the_household_reaches_only_their_own_record(
    credit: Credit,
) -> None:
    ours = await credit.household(GRID)
    me = resident(resident_of(ours))
    stays = uuid.uuid4()
    await credit.apply(
        HouseholdMembersChanged(
            household_id=ours.household_id,
            members=[MemberV1(name="李娜", relation="head", resident_id=stays)],
            version=2,
            changed_at=datetime.now(UTC),
        )
    )
    assert await reads(credit.client, ours.household_id, me) == {404}
    assert (
        await credit.client.get(f"/v1/subjects/{resident_of(ours)}/score", headers=me)
    ).status_code == 200
    assert await reads(credit.client, ours.household_id, resident(stays)) == {200}


async def test_an_organisation_reads_and_appeals_only_its_own_record(credit: Credit) -> None:
    ours, theirs = uuid.uuid4(), uuid.uuid4()
    for organisation in (ours, theirs):
        await credit.apply(
            OrganisationRegistered(
                organisation_id=organisation,
                kind="property_manager",
                name="物业",
                community_id=COMMUNITY,
                grid_id=GRID,
                compound_ids=[f"cp-{organisation}"],
                contact=ContactV1(),
                registered_at=datetime.now(UTC),
            )
        )
        await credit.apply(failed_inspection(organisation, SubjectKind.ORGANISATION))
    manager = bearer("property_manager", subject="anju-desk", organisation_id=ours)
    client = credit.client
    for what in ("score", "entries", "explanation"):
        own = await client.get(f"/v1/subjects/{ours}/{what}", headers=manager)
        assert own.status_code == 200, own.text
        assert_problem(
            await client.get(f"/v1/subjects/{theirs}/{what}", headers=manager), 404, "not-found"
        )
    filed = await client.post(
        "/v1/appeals",
        json={"entry_id": await credit.entry_of(ours), "grounds": "已按时整改"},
        headers=manager,
    )
    assert filed.status_code == 201 and filed.json()["filed_by"] == f"organisation:{ours}"
    refused = await client.post(
        "/v1/appeals",
        json={"entry_id": await credit.entry_of(theirs), "grounds": "x"},
        headers=manager,
    )
    assert_problem(refused, 404, "not-found")
    # The green channel is the households' (and their residents'): not an organisation's door.
    assert_problem(
        await client.get(f"/v1/subjects/{ours}/green-channel", headers=manager), 403, "forbidden"
    )


async def test_a_resident_the_ledger_does_not_know_reaches_nothing(credit: Credit) -> None:
    ours = await credit.household(GRID)
    stranger = resident(uuid.uuid4())
    assert await reads(credit.client, ours.household_id, stranger) == {404}
    listed = await credit.client.get("/v1/appeals", headers=stranger)
    assert listed.status_code == 200 and listed.json()["items"] == []


async def test_a_resident_downloads_what_credit_holds_about_them_and_no_one_else(
    credit: Credit,
) -> None:
    ours, neighbour = await credit.household(GRID), await credit.household(GRID)
    me = resident(resident_of(ours))
    client = credit.client
    await client.get(f"/v1/subjects/{ours.household_id}/green-channel", headers=me)
    await client.post(
        "/v1/appeals",
        json={"entry_id": await credit.entry_of(ours.household_id), "grounds": "不是我家的"},
        headers=me,
    )
    copy = await client.get(f"/v1/residents/{resident_of(ours)}/data-copy", headers=me)
    assert copy.status_code == 200, copy.text
    mine, household = copy.json()["records"]
    assert mine["account"]["subject_id"] == str(resident_of(ours))
    assert household["account"]["subject_id"] == str(ours.household_id)
    [entry] = household["entries"]
    assert entry["reason_code"] == "inspection.failed"
    assert household["appeals"][0]["grounds"] == "不是我家的"
    assert household["green_channel_checks"][0]["checked_by"] == f"person-{resident_of(ours)}"

    for other in (resident_of(neighbour), neighbour.household_id, uuid.uuid4()):
        assert_problem(
            await client.get(f"/v1/residents/{other}/data-copy", headers=me), 404, "not-found"
        )
    assert_problem(
        await client.get(f"/v1/residents/{resident_of(ours)}/data-copy", headers=OFFICER),
        403,
        "forbidden",
    )
    trail = await client.get(
        "/v1/audit", params={"action": "personal-data-read"}, headers=bearer("admin")
    )
    assert any(
        e["path"] == f"/v1/residents/{resident_of(ours)}/data-copy" for e in trail.json()["items"]
    )
