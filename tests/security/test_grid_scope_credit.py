"""The grid walk over credit: grid workers see and act only on their grids' subjects.

Every credit route admitting a grid-bound role is called with a token for another grid about a
household (and its resident) of the other grid, an entry of it and an appeal against that entry.
Reads answer 404, filing an appeal 403 `outside-grids`, the appeals list leaves them out.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from conftest import MigratedDatabase
from linli_credit.app import DEFINITION, create_app
from linli_credit.consumers import subscriptions
from linli_credit.service import UseCases
from linli_credit.settings import CreditSettings
from linli_shared.contracts import InspectionFailed
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.contracts.inspections import FailedFindingV1
from linli_shared.db import Database
from linli_shared.permissions import RoutePermission, route_permissions
from tests.support.api import api_client
from tests.support.grid_scope import (
    ADMIN,
    OURS,
    THEIRS,
    Probe,
    bearer,
    consume,
    household_in,
    refused,
    walk,
)

GRID_FREE = {("GET", "/v1/policies")}


def failed_inspection(household: uuid.UUID) -> InspectionFailed:
    at = datetime.now(UTC) - timedelta(hours=1)
    return InspectionFailed(
        inspection_id=uuid.uuid4(),
        subject_id=household,
        subject_kind=SubjectKind.HOUSEHOLD,
        checklist="sanitation",
        inspected_at=at,
        severity=Severity.GENERAL,
        failed_findings=[FailedFindingV1(item="no-exposed-garbage", severity=Severity.GENERAL)],
        comply_by=at + timedelta(days=2),
    )


@dataclass(frozen=True)
class Credit:
    client: httpx.AsyncClient
    permissions: list[RoutePermission]
    use_cases: UseCases  # the app's own, to apply events the way the consumer does
    database: Database


@pytest.fixture
async def credit(migrated_database: MigratedDatabase) -> AsyncIterator[Credit]:
    url = await migrated_database(DEFINITION)
    app = create_app(CreditSettings(database_url=url))
    database = Database(url)
    try:
        async with api_client(app, "credit") as client:
            yield Credit(client, route_permissions(app), app.state.use_cases, database)
    finally:
        await database.dispose()


async def _household_with_appeal(credit: Credit, grid: str) -> dict[str, str]:
    """A household of `grid` with a resident, a penalty entry and an appeal against it."""
    registered = household_in(grid, resident_id=uuid.uuid4())
    household = registered.household_id
    consumer = subscriptions(credit.use_cases)
    await consume(consumer, credit.database, registered)
    await consume(consumer, credit.database, failed_inspection(household))
    entries = await credit.client.get(f"/v1/subjects/{household}/entries", headers=ADMIN)
    [entry] = entries.json()["items"]
    filed = await credit.client.post(
        "/v1/appeals", json={"entry_id": entry["id"], "grounds": "不是我家的"}, headers=ADMIN
    )
    assert filed.status_code == 201, filed.text
    return {
        "household": str(household),
        "resident": str(registered.members[0].resident_id),
        "entry": entry["id"],
        "appeal": filed.json()["id"],
    }


def _probes(theirs: dict[str, str]) -> list[Probe]:
    household, resident = theirs["household"], theirs["resident"]
    return [
        Probe("GET", "/v1/subjects/{subject_id}/score", f"/v1/subjects/{household}/score"),
        Probe("GET", "/v1/subjects/{subject_id}/score", f"/v1/subjects/{resident}/score"),
        Probe("GET", "/v1/subjects/{subject_id}/entries", f"/v1/subjects/{household}/entries"),
        Probe("GET", "/v1/subjects/{subject_id}/entries", f"/v1/subjects/{resident}/entries"),
        Probe(
            "GET", "/v1/subjects/{subject_id}/explanation", f"/v1/subjects/{household}/explanation"
        ),
        Probe(
            "POST",
            "/v1/appeals",
            "/v1/appeals",
            {"entry_id": theirs["entry"], "grounds": "垃圾不是我家的"},
        ),
        Probe("GET", "/v1/appeals", "/v1/appeals", lists=True),
        Probe("GET", "/v1/appeals/{appeal_id}", f"/v1/appeals/{theirs['appeal']}"),
    ]


async def test_grid_workers_are_refused_other_grids_subjects(credit: Credit) -> None:
    client = credit.client
    theirs = await _household_with_appeal(credit, THEIRS)
    ours = await _household_with_appeal(credit, OURS)

    def is_refused(probe: Probe, response: httpx.Response) -> bool:
        return refused(probe, response, lambda item: item["subject_id"] == theirs["household"])

    walked = await walk(
        client, credit.permissions, _probes(theirs), grid_free=GRID_FREE, is_refused=is_refused
    )
    assert walked >= 8
    # Nothing of theirs was changed: still one appeal, the one staff filed.
    listed = await client.get(
        "/v1/appeals", params={"subject_id": theirs["household"]}, headers=ADMIN
    )
    assert [a["id"] for a in listed.json()["items"]] == [theirs["appeal"]]
    # The same calls reach the other grid's worker, and ours sees ours.
    for grid, mine in ((THEIRS, theirs), (OURS, ours)):
        worker = bearer("grid_worker", [grid])
        appeals = (await client.get("/v1/appeals", headers=worker)).json()["items"]
        assert [a["id"] for a in appeals] == [mine["appeal"]]
        for probe in _probes(mine):
            if probe.method == "GET" and not probe.lists:
                response = await client.get(probe.url, headers=worker)
                assert response.status_code == 200, (probe.url, response.text)
