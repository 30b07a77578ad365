"""Grid workers see and act only on the subjects of their grids, wherever the registry puts them.

On a migrated database, with the registry's events applied through credit's own subscriptions:
a household's grid (and its residents', the household's) comes from household.registered and
follows household.moved; an organisation's from organisation.registered/changed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from linli_credit.app import create_app
from linli_credit.consumers import subscriptions
from linli_credit.settings import CreditSettings
from linli_shared.contracts import (
    HouseholdMembersChanged,
    HouseholdRegistered,
    InspectionFailed,
    OrganisationChanged,
    OrganisationRegistered,
)
from linli_shared.contracts.base import EventData
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.contracts.inspections import FailedFindingV1
from linli_shared.contracts.registry import ContactV1, MemberV1
from linli_shared.db import Database
from linli_shared.messaging.processing import Subscription
from tests.support.api import api_client, assert_problem
from tests.support.grid_scope import COMMUNITY, bearer, consume, household_in, moved_to

A, B = "grid-a", "grid-b"
WORKER_A = bearer("grid_worker", [A], subject="worker-a")
WORKER_B = bearer("grid_worker", [B], subject="worker-b")
STAFF = bearer("community_staff")


@dataclass(frozen=True)
class Credit:
    client: httpx.AsyncClient
    consumer: list[Subscription]
    database: Database

    async def apply(self, event: EventData) -> None:
        await consume(self.consumer, self.database, event)

    async def household(self, grid: str) -> HouseholdRegistered:
        """A household of `grid` with a resident and one penalty entry."""
        registered = household_in(grid, resident_id=uuid.uuid4())
        await self.apply(registered)
        await self.apply(failed_inspection(registered.household_id))
        return registered

    async def entry_of(self, subject: uuid.UUID) -> str:
        entries = await self.client.get(f"/v1/subjects/{subject}/entries", headers=STAFF)
        [entry] = entries.json()["items"]
        return str(entry["id"])


@pytest.fixture
async def credit(database_url: str) -> AsyncIterator[Credit]:
    url = database_url
    app = create_app(CreditSettings(database_url=url))
    database = Database(url)
    try:
        async with api_client(app, "credit") as client:
            yield Credit(client, subscriptions(app.state.use_cases), database)
    finally:
        await database.dispose()


def failed_inspection(
    subject: uuid.UUID, kind: SubjectKind = SubjectKind.HOUSEHOLD
) -> InspectionFailed:
    at = datetime.now(UTC) - timedelta(hours=1)
    return InspectionFailed(
        inspection_id=uuid.uuid4(),
        subject_id=subject,
        subject_kind=kind,
        checklist="sanitation",
        inspected_at=at,
        severity=Severity.GENERAL,
        failed_findings=[FailedFindingV1(item="no-exposed-garbage", severity=Severity.GENERAL)],
        comply_by=at + timedelta(days=2),
    )


def resident_of(registered: HouseholdRegistered) -> uuid.UUID:
    resident = registered.members[0].resident_id
    assert resident is not None
    return resident


async def statuses(
    client: httpx.AsyncClient, subject: uuid.UUID, headers: dict[str, str]
) -> set[int]:
    """What the subject's score, entries and explanation answer to these headers."""
    return {
        (await client.get(f"/v1/subjects/{subject}/{what}", headers=headers)).status_code
        for what in ("score", "entries", "explanation")
    }


async def test_a_grid_worker_reads_only_its_grids_households_and_residents(
    credit: Credit,
) -> None:
    ours, theirs = await credit.household(A), await credit.household(B)
    client = credit.client
    for subject in (ours.household_id, resident_of(ours)):
        assert await statuses(client, subject, WORKER_A) == {200}
        assert await statuses(client, subject, STAFF) == {200}
    for subject in (theirs.household_id, resident_of(theirs)):
        assert await statuses(client, subject, WORKER_A) == {404}
        assert await statuses(client, subject, WORKER_B) == {200}
        assert await statuses(client, subject, STAFF) == {200}
    hidden = await client.get(f"/v1/subjects/{theirs.household_id}/score", headers=WORKER_A)
    assert str(theirs.household_id) in assert_problem(hidden, 404, "not-found")["detail"]
    # A token naming no grid reaches none.
    nowhere = bearer("grid_worker", [])
    assert await statuses(client, ours.household_id, nowhere) == {404}


async def test_a_grid_worker_appeals_and_lists_appeals_only_in_its_grids(credit: Credit) -> None:
    ours, theirs = await credit.household(A), await credit.household(B)
    client = credit.client
    our_entry = await credit.entry_of(ours.household_id)
    their_entry = await credit.entry_of(theirs.household_id)

    filed = await client.post(
        "/v1/appeals", json={"entry_id": our_entry, "grounds": "不是我家的"}, headers=WORKER_A
    )
    assert filed.status_code == 201, filed.text
    refused = await client.post(
        "/v1/appeals", json={"entry_id": their_entry, "grounds": "不是我家的"}, headers=WORKER_A
    )
    assert assert_problem(refused, 403, "outside-grids")["detail"].startswith(
        "entry_id: grid grid-b"
    )
    theirs_filed = await client.post(
        "/v1/appeals", json={"entry_id": their_entry, "grounds": "不是我家的"}, headers=STAFF
    )
    assert theirs_filed.status_code == 201, theirs_filed.text
    our_appeal, their_appeal = filed.json()["id"], theirs_filed.json()["id"]

    async def listed(headers: dict[str, str], **params: str) -> list[str]:
        response = await client.get("/v1/appeals", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [a["id"] for a in response.json()["items"]]

    assert await listed(WORKER_A) == [our_appeal]
    assert await listed(WORKER_A, subject_id=str(theirs.household_id)) == []
    assert await listed(WORKER_B) == [their_appeal]
    assert await listed(STAFF) == [our_appeal, their_appeal]
    assert (await client.get(f"/v1/appeals/{our_appeal}", headers=WORKER_A)).status_code == 200
    assert_problem(
        await client.get(f"/v1/appeals/{their_appeal}", headers=WORKER_A), 404, "not-found"
    )


async def test_a_move_takes_the_household_and_its_residents_to_the_new_grid(
    credit: Credit,
) -> None:
    household = await credit.household(A)
    client = credit.client
    entry = await credit.entry_of(household.household_id)
    appeal = await client.post(
        "/v1/appeals", json={"entry_id": entry, "grounds": "搬家前的事"}, headers=WORKER_A
    )
    assert appeal.status_code == 201, appeal.text

    await credit.apply(moved_to(B, household.household_id))

    for subject in (household.household_id, resident_of(household)):
        assert await statuses(client, subject, WORKER_A) == {404}
        assert await statuses(client, subject, WORKER_B) == {200}
    assert [
        a["id"] for a in (await client.get("/v1/appeals", headers=WORKER_B)).json()["items"]
    ] == [appeal.json()["id"]]
    assert (await client.get("/v1/appeals", headers=WORKER_A)).json()["items"] == []
    # A member who joins after the move is in the household's new grid.
    joined = uuid.uuid4()
    spouse = MemberV1(name="李娜", relation="spouse", resident_id=joined)
    await credit.apply(
        HouseholdMembersChanged(
            household_id=household.household_id,
            members=[*household.members, spouse],
            changed_at=datetime.now(UTC),
            version=3,
        )
    )
    assert (await client.get(f"/v1/subjects/{joined}/score", headers=WORKER_B)).status_code == 200


async def test_an_organisation_is_in_the_grid_the_registry_names(credit: Credit) -> None:
    organisation = uuid.uuid4()
    common: dict[str, Any] = {
        "organisation_id": organisation,
        "kind": "shop",
        "name": "幸福超市",
        "community_id": COMMUNITY,
        "contact": ContactV1(email="shop@example.cn"),
    }
    await credit.apply(OrganisationRegistered(**common, grid_id=A, registered_at=datetime.now(UTC)))
    await credit.apply(failed_inspection(organisation, SubjectKind.ORGANISATION))
    assert await statuses(credit.client, organisation, WORKER_A) == {200}
    assert await statuses(credit.client, organisation, WORKER_B) == {404}

    await credit.apply(
        OrganisationChanged(**common, grid_id=B, changed_at=datetime.now(UTC), version=2)
    )
    assert await statuses(credit.client, organisation, WORKER_A) == {404}
    assert await statuses(credit.client, organisation, WORKER_B) == {200}
