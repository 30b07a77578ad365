"""Grid workers and inspectors see and act only in their grids, through the HTTP API.

Two compounds in two grids. A grid worker of the north grid records, reads, plans and reports
only in the north: another grid's objects read as absent (404), lists leave them out, and writes
that would land in another grid are refused (403; in an offline batch, per item). Staff roles and
admins reach every grid.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.inspections.tests.announced import announce, organisation
from tests.support.grid_scope import bearer_of

NORTH, SOUTH = "g-north", "g-south"


def bearer(role: str, grids: tuple[str, ...] = ()) -> dict[str, str]:
    return bearer_of([role], grids, f"{role}-{'-'.join(grids)}")


ADMIN = bearer("admin")
STAFF = bearer("community_staff")
CREDIT_OFFICER = bearer("credit_officer")
NORTH_WORKER = bearer("grid_worker", (NORTH,))
NORTH_INSPECTOR = bearer("inspector", (NORTH,))
SOUTH_INSPECTOR = bearer("inspector", (SOUTH,))


def failed_inspection(compound: str, **extra: Any) -> dict[str, Any]:
    return {
        "target": {"kind": "compound", "id": compound},
        "checklist": "sanitation",
        "inspected_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "findings": [{"item": "no-exposed-garbage", "passed": False}],
        **extra,
    }


@pytest.fixture(autouse=True)
async def compounds(database_url: str) -> None:
    """A compound in each grid, each with its property manager."""
    await announce(
        database_url,
        *(
            organisation(uuid.uuid4(), grid_id=grid, compound_ids=[f"cp-{grid}"])
            for grid in (NORTH, SOUTH)
        ),
    )


@pytest.fixture
async def south(client: httpx.AsyncClient) -> dict[str, str]:
    """What exists in the south grid: an inspection, its case, a plan, a pest point."""
    recorded = await client.post(
        "/v1/inspections", json=failed_inspection(f"cp-{SOUTH}"), headers=SOUTH_INSPECTOR
    )
    assert recorded.status_code == 201, recorded.text
    cases = await client.get("/v1/rectifications", params={"grid_id": SOUTH}, headers=STAFF)
    planned = await client.post(
        "/v1/schedules",
        json={"target": {"kind": "compound", "id": f"cp-{SOUTH}"}, "checklist": "sanitation"},
        headers=STAFF,
    )
    point = await client.post(
        "/v1/pest-points",
        json={
            "id": "pp-south",
            "community_id": "xingfu",
            "grid_id": SOUTH,
            "name": "南门",
            "compound_id": f"cp-{SOUTH}",
        },
        headers=bearer("grid_worker", (SOUTH,)),
    )
    assert planned.status_code == 201 and point.status_code == 201, (planned.text, point.text)
    reading = await client.post(
        "/v1/pest-points/pp-south/readings",
        json={"pest": "rat", "density": 0.5},
        headers=SOUTH_INSPECTOR,
    )
    assert reading.status_code == 201, reading.text
    return {
        "inspection": recorded.json()["id"],
        "case": cases.json()["items"][0]["id"],
        "schedule": planned.json()["id"],
    }


# --- recording ------------------------------------------------------------------------------


async def test_an_inspector_records_only_in_their_grids(client: httpx.AsyncClient) -> None:
    refused = await client.post(
        "/v1/inspections", json=failed_inspection(f"cp-{SOUTH}"), headers=NORTH_INSPECTOR
    )
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("outside-grids")
    assert "target.id" in refused.json()["detail"]

    accepted = await client.post(
        "/v1/inspections", json=failed_inspection(f"cp-{NORTH}"), headers=NORTH_INSPECTOR
    )
    assert accepted.status_code == 201, accepted.text
    # Nothing was recorded for the refused one: staff see only the north case.
    cases = (await client.get("/v1/rectifications", headers=STAFF)).json()
    assert [c["grid_id"] for c in cases["items"]] == [NORTH]


async def test_an_offline_batch_refuses_only_the_items_outside_the_grids(
    client: httpx.AsyncClient,
) -> None:
    north_id, south_id = uuid.uuid4(), uuid.uuid4()
    batch = {
        "inspections": [
            failed_inspection(f"cp-{NORTH}", id=str(north_id)),
            failed_inspection(f"cp-{SOUTH}", id=str(south_id)),
        ]
    }
    response = await client.post("/v1/inspections/batch", json=batch, headers=NORTH_INSPECTOR)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["recorded"], body["duplicates"], body["rejected"]) == (1, 0, 1)
    by_id = {item["id"]: item for item in body["results"]}
    assert by_id[str(north_id)]["status"] == "recorded"
    assert by_id[str(south_id)]["status"] == "forbidden"
    assert by_id[str(south_id)]["errors"][0]["field"] == "target.id"
    missing = await client.get(f"/v1/inspections/{south_id}", headers=ADMIN)
    assert missing.status_code == 404
    # The inspector of the south grid sends the same item later: it is recorded then.
    again = await client.post(
        "/v1/inspections/batch",
        json={"inspections": batch["inspections"][1:]},
        headers=SOUTH_INSPECTOR,
    )
    assert again.json()["results"][0]["status"] == "recorded"


async def test_a_token_without_grids_reaches_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/inspections", json=failed_inspection(f"cp-{NORTH}"), headers=bearer("inspector")
    )
    assert response.status_code == 403


# --- reading inspections and cases ----------------------------------------------------------


async def test_other_grids_inspections_and_cases_read_as_absent(
    client: httpx.AsyncClient, south: dict[str, str]
) -> None:
    for path in (f"/v1/inspections/{south['inspection']}", f"/v1/rectifications/{south['case']}"):
        outside = await client.get(path, headers=NORTH_WORKER)
        assert outside.status_code == 404, (path, outside.text)
        for headers in (SOUTH_INSPECTOR, ADMIN, STAFF, CREDIT_OFFICER):
            assert (await client.get(path, headers=headers)).status_code == 200, path


async def test_case_lists_leave_other_grids_out(
    client: httpx.AsyncClient, south: dict[str, str]
) -> None:
    await client.post(
        "/v1/inspections", json=failed_inspection(f"cp-{NORTH}"), headers=NORTH_INSPECTOR
    )
    mine = (await client.get("/v1/rectifications", headers=NORTH_WORKER)).json()
    assert [c["grid_id"] for c in mine["items"]] == [NORTH] and mine["total"] == 1
    asked = await client.get("/v1/rectifications", params={"grid_id": SOUTH}, headers=NORTH_WORKER)
    assert asked.json()["items"] == [] and asked.json()["total"] == 0
    everything = (await client.get("/v1/rectifications", headers=CREDIT_OFFICER)).json()
    assert {c["grid_id"] for c in everything["items"]} == {NORTH, SOUTH}


async def test_readiness_is_reported_only_in_ones_grids(
    client: httpx.AsyncClient, south: dict[str, str]
) -> None:
    path = f"/v1/rectifications/{south['case']}/ready"
    assert (await client.post(path, headers=NORTH_WORKER)).status_code == 404
    case = (await client.get(f"/v1/rectifications/{south['case']}", headers=STAFF)).json()
    assert case["status"] == "open"
    reported = await client.post(path, headers=bearer("grid_worker", (SOUTH,)))
    assert reported.status_code == 200, reported.text
    assert reported.json()["status"] == "ready"


async def test_a_reinspection_is_scheduled_only_in_ones_grids(
    client: httpx.AsyncClient, south: dict[str, str]
) -> None:
    path = f"/v1/rectifications/{south['case']}/reinspection"
    body = {"scheduled_for": (datetime.now(UTC) + timedelta(days=1)).isoformat()}
    assert (await client.post(path, json=body, headers=NORTH_WORKER)).status_code == 404
    case = (await client.get(f"/v1/rectifications/{south['case']}", headers=STAFF)).json()
    assert case["scheduled_reinspection"] is None
    scheduled = await client.post(path, json=body, headers=SOUTH_INSPECTOR)
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["scheduled_reinspection"]["scheduled_by"] == f"inspector-{SOUTH}"


# --- schedules and coverage -----------------------------------------------------------------


async def test_schedules_are_planned_listed_and_stopped_only_in_ones_grids(
    client: httpx.AsyncClient, south: dict[str, str]
) -> None:
    refused = await client.post(
        "/v1/schedules",
        json={"target": {"kind": "compound", "id": f"cp-{SOUTH}"}, "checklist": "street_order"},
        headers=NORTH_WORKER,
    )
    assert refused.status_code == 403, refused.text
    planned = await client.post(
        "/v1/schedules",
        json={"target": {"kind": "compound", "id": f"cp-{NORTH}"}, "checklist": "sanitation"},
        headers=NORTH_WORKER,
    )
    assert planned.status_code == 201, planned.text

    listed = (await client.get("/v1/schedules", headers=NORTH_WORKER)).json()
    assert [s["grid_id"] for s in listed["items"]] == [NORTH]
    assert len((await client.get("/v1/schedules", headers=STAFF)).json()["items"]) == 2

    stop = await client.delete(f"/v1/schedules/{south['schedule']}", headers=NORTH_WORKER)
    assert stop.status_code == 404
    still = (await client.get("/v1/schedules", params={"grid_id": SOUTH}, headers=STAFF)).json()
    assert [s["id"] for s in still["items"]] == [south["schedule"]]


async def test_coverage_reports_only_for_ones_grids(
    client: httpx.AsyncClient, south: dict[str, str]
) -> None:
    outside = await client.get("/v1/coverage", params={"grid_id": SOUTH}, headers=NORTH_WORKER)
    assert outside.status_code == 403
    assert (
        await client.get("/v1/coverage", params={"grid_id": NORTH}, headers=NORTH_WORKER)
    ).status_code == 200
    staff = await client.get("/v1/coverage", params={"grid_id": SOUTH}, headers=STAFF)
    assert staff.status_code == 200 and len(staff.json()["rows"]) == 1, staff.text


# --- pest monitoring ------------------------------------------------------------------------


async def test_pest_points_and_readings_only_in_ones_grids(
    client: httpx.AsyncClient, south: dict[str, str]
) -> None:
    refused = await client.post(
        "/v1/pest-points",
        json={
            "id": "pp-x",
            "community_id": "xingfu",
            "grid_id": SOUTH,
            "name": "x",
            "compound_id": f"cp-{SOUTH}",
        },
        headers=NORTH_WORKER,
    )
    assert refused.status_code == 403
    added = await client.post(
        "/v1/pest-points",
        json={
            "id": "pp-north",
            "community_id": "xingfu",
            "grid_id": NORTH,
            "name": "北门",
            "compound_id": f"cp-{NORTH}",
        },
        headers=NORTH_WORKER,
    )
    assert added.status_code == 201, added.text

    listed = (await client.get("/v1/pest-points", headers=NORTH_WORKER)).json()
    assert [p["id"] for p in listed["items"]] == ["pp-north"]
    assert len((await client.get("/v1/pest-points", headers=STAFF)).json()["items"]) == 2

    reading = {"pest": "rat", "density": 0.5}
    outside = "/v1/pest-points/pp-south/readings"
    assert (await client.post(outside, json=reading, headers=NORTH_INSPECTOR)).status_code == 404
    assert (await client.get(outside, headers=NORTH_WORKER)).status_code == 404
    assert len((await client.get(outside, headers=STAFF)).json()["items"]) == 1
    inside = "/v1/pest-points/pp-north/readings"
    assert (await client.post(inside, json=reading, headers=NORTH_INSPECTOR)).status_code == 201
