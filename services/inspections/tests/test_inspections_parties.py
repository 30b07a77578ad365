"""Responsible parties signed in for themselves, through the HTTP API: a property manager and a
shop reach only the cases (and inspections, and photos) they answer for, report their own cases
ready with a note and photos, and can do nothing for another organisation: its cases read as
absent (404, not 403). The generic `service` role no longer reports a case ready.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.inspections.tests.announced import announce, organisation
from services.inspections.tests.test_inspections_evidence import png
from tests.support.api import assert_problem
from tests.support.grid_scope import bearer, bearer_of, household_in

GRID = "g-01"
MANAGER, OTHER_MANAGER, SHOP = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
ADMIN = bearer("admin")
INSPECTOR = bearer("inspector", (GRID,), "inspector-wang")
OURS = bearer("property_manager", subject="anju-desk", organisation_id=MANAGER)
THEIRS = bearer("property_manager", subject="other-desk", organisation_id=OTHER_MANAGER)
SHOP_DESK = bearer("shop", subject="shop-desk", organisation_id=SHOP)


def failed(kind: str, target: str, item: str = "no-exposed-garbage") -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "target": {"kind": kind, "id": target},
        "checklist": "sanitation",
        "inspected_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "findings": [{"item": item, "passed": False, "note": f"{target} 垃圾外露"}],
    }


@pytest.fixture
async def cases(client: httpx.AsyncClient, database_url: str) -> dict[str, dict[str, Any]]:
    """A failed inspection of each party's place: our compound, the other manager's compound,
    the shop's frontage segment; their cases, by party."""
    await announce(
        database_url,
        organisation(MANAGER, grid_id=GRID, compound_ids=["cp-ours"]),
        organisation(OTHER_MANAGER, grid_id=GRID, compound_ids=["cp-theirs"]),
        organisation(SHOP, grid_id=GRID, frontage_segments=["seg-shop"]),
    )
    found: dict[str, dict[str, Any]] = {}
    for party, kind, target in [
        ("ours", "compound", "cp-ours"),
        ("theirs", "compound", "cp-theirs"),
        ("shop", "frontage_segment", "seg-shop"),
    ]:
        recorded = await client.post(
            "/v1/inspections", json=failed(kind, target), headers=INSPECTOR
        )
        assert recorded.status_code == 201, recorded.text
        listed = await client.get(
            "/v1/rectifications",
            params={"subject_id": recorded.json()["subject_id"]},
            headers=ADMIN,
        )
        [case] = listed.json()["items"]
        found[party] = case
    return found


async def test_a_property_manager_sees_only_the_cases_it_answers_for(
    client: httpx.AsyncClient, cases: dict[str, dict[str, Any]]
) -> None:
    listed = await client.get("/v1/rectifications", headers=OURS)
    assert listed.status_code == 200, listed.text
    assert [c["id"] for c in listed.json()["items"]] == [cases["ours"]["id"]]
    assert listed.json()["total"] == 1
    # Asking for another party's cases, or the grid's, finds only its own.
    for params in (
        {"subject_id": str(OTHER_MANAGER)},
        {"grid_id": GRID, "subject_id": str(OTHER_MANAGER)},
    ):
        other = await client.get("/v1/rectifications", params=params, headers=OURS)
        assert other.json()["items"] == [] and other.json()["total"] == 0
    by_grid = await client.get("/v1/rectifications", params={"grid_id": GRID}, headers=OURS)
    assert [c["id"] for c in by_grid.json()["items"]] == [cases["ours"]["id"]]

    own = await client.get(f"/v1/rectifications/{cases['ours']['id']}", headers=OURS)
    assert own.status_code == 200, own.text
    case = own.json()
    # What the party needs to act: what failed, the comply-by date, the timeline.
    assert case["comply_by"] and case["failed_findings"][0]["item"] == "no-exposed-garbage"
    assert [entry["kind"] for entry in case["timeline"]] == ["requested"]
    inspection = await client.get(f"/v1/inspections/{case['inspection_id']}", headers=OURS)
    assert inspection.status_code == 200, inspection.text

    for path in (
        f"/v1/rectifications/{cases['theirs']['id']}",
        f"/v1/inspections/{cases['theirs']['inspection_id']}",
    ):
        assert_problem(await client.get(path, headers=OURS), 404, "not-found")


async def test_a_shop_sees_only_its_segments_cases(
    client: httpx.AsyncClient, cases: dict[str, dict[str, Any]]
) -> None:
    listed = await client.get("/v1/rectifications", headers=SHOP_DESK)
    assert [c["id"] for c in listed.json()["items"]] == [cases["shop"]["id"]]
    assert listed.json()["items"][0]["target_id"] == "seg-shop"
    assert_problem(
        await client.get(f"/v1/rectifications/{cases['ours']['id']}", headers=SHOP_DESK),
        404,
        "not-found",
    )


async def test_a_property_manager_reports_its_own_case_ready_with_a_note_and_a_photo(
    client: httpx.AsyncClient, cases: dict[str, dict[str, Any]]
) -> None:
    photo = png(7)
    uploaded = await client.post(
        "/v1/evidence", content=photo, headers={**OURS, "Content-Type": "image/png"}
    )
    assert uploaded.status_code == 201, uploaded.text
    reference = uploaded.json()

    ready = await client.post(
        f"/v1/rectifications/{cases['ours']['id']}/ready",
        json={
            "note": "东门垃圾已清运，新增两个垃圾桶",
            "evidence": [{"photo_ref": reference["photo_ref"], "sha256": reference["sha256"]}],
        },
        headers=OURS,
    )
    assert ready.status_code == 200, ready.text
    case = ready.json()
    assert case["status"] == "ready"
    [report] = [e for e in case["timeline"] if e["kind"] == "ready"]
    assert report["detail"]["reported_by"] == "anju-desk"
    assert report["detail"]["note"] == "东门垃圾已清运，新增两个垃圾桶"
    assert report["detail"]["evidence"][0]["sha256"] == hashlib.sha256(photo).hexdigest()

    # The grid's inspector, who re-inspects, sees the photo; the other manager does not.
    shown = await client.get(f"/v1/evidence/{reference['sha256']}", headers=INSPECTOR)
    assert shown.status_code == 200 and shown.content == photo
    hidden = await client.get(f"/v1/evidence/{reference['sha256']}", headers=THEIRS)
    assert_problem(hidden, 404, "not-found")

    # The re-inspection's result is on the party's own case.
    reinspected = await client.post(
        "/v1/inspections",
        json={
            "reinspection_of": cases["ours"]["id"],
            "findings": [{"item": "no-exposed-garbage", "passed": True}],
        },
        headers=INSPECTOR,
    )
    assert reinspected.status_code == 201, reinspected.text
    verified = (await client.get(f"/v1/rectifications/{cases['ours']['id']}", headers=OURS)).json()
    assert (verified["status"], verified["on_time"]) == ("verified", True)
    assert verified["timeline"][-1]["kind"] == "verified"
    result = await client.get(f"/v1/inspections/{verified['reinspection_id']}", headers=OURS)
    assert result.status_code == 200 and result.json()["outcome"] == "passed"


async def test_another_organisations_case_is_not_found_and_stays_as_it_was(
    client: httpx.AsyncClient, cases: dict[str, dict[str, Any]]
) -> None:
    theirs = cases["theirs"]["id"]
    refused = await client.post(f"/v1/rectifications/{theirs}/ready", headers=OURS)
    assert_problem(refused, 404, "not-found")
    # The same answer as for a case that does not exist: its existence is not revealed.
    absent = await client.post(f"/v1/rectifications/{uuid.uuid4()}/ready", headers=OURS)
    assert absent.json()["title"] == refused.json()["title"]
    unchanged = (await client.get(f"/v1/rectifications/{theirs}", headers=ADMIN)).json()
    assert unchanged["status"] == "open"
    assert [e["kind"] for e in unchanged["timeline"]] == ["requested"]


async def test_a_photo_not_uploaded_is_refused_naming_the_field(
    client: httpx.AsyncClient, cases: dict[str, dict[str, Any]]
) -> None:
    sha = "ab" * 32
    refused = await client.post(
        f"/v1/rectifications/{cases['ours']['id']}/ready",
        json={"evidence": [{"photo_ref": f"linli:evidence/{sha}", "sha256": sha}]},
        headers=OURS,
    )
    assert_problem(refused, 422, "validation-error")
    assert refused.json()["errors"][0]["field"] == "evidence.0.photo_ref"
    case = (await client.get(f"/v1/rectifications/{cases['ours']['id']}", headers=OURS)).json()
    assert case["status"] == "open"


@pytest.mark.parametrize(
    "headers",
    [
        bearer("service"),
        bearer("partner"),
        bearer("resident", resident_id=uuid.uuid4()),
    ],
    ids=["service", "partner", "resident"],
)
async def test_only_the_party_and_staff_report_a_case_ready(
    client: httpx.AsyncClient, cases: dict[str, dict[str, Any]], headers: dict[str, str]
) -> None:
    refused = await client.post(f"/v1/rectifications/{cases['ours']['id']}/ready", headers=headers)
    assert_problem(refused, 403, "forbidden")


async def test_a_party_token_without_its_organisation_reaches_nothing(
    client: httpx.AsyncClient, cases: dict[str, dict[str, Any]]
) -> None:
    unbound = bearer_of(["property_manager", "shop"], subject="no-organisation")
    listed = await client.get("/v1/rectifications", headers=unbound)
    assert listed.status_code == 200 and listed.json()["items"] == []
    for case in cases.values():
        assert_problem(
            await client.get(f"/v1/rectifications/{case['id']}", headers=unbound), 404, "not-found"
        )


async def test_a_resident_reads_their_households_cases_and_copies_them_and_no_neighbours(
    client: httpx.AsyncClient, database_url: str
) -> None:
    me, neighbour = uuid.uuid4(), uuid.uuid4()
    ours, theirs = household_in(GRID, resident_id=me), household_in(GRID, resident_id=neighbour)
    await announce(database_url, ours, theirs)
    recorded = {}
    for household in (ours, theirs):
        response = await client.post(
            "/v1/inspections",
            json={
                "subject_id": str(household.household_id),
                "checklist": "sanitation",
                "findings": [{"item": "stairwells-clear", "passed": False, "note": "楼道堆物"}],
            },
            headers=INSPECTOR,
        )
        assert response.status_code == 201, response.text
        recorded[household.household_id] = response.json()
    mine = bearer("resident", subject="person-me", resident_id=me)
    listed = (await client.get("/v1/rectifications", headers=mine)).json()
    [case] = listed["items"]
    assert case["subject_id"] == str(ours.household_id)
    assert (await client.get(f"/v1/rectifications/{case['id']}", headers=mine)).status_code == 200
    their_inspection = recorded[theirs.household_id]["id"]
    assert_problem(
        await client.get(f"/v1/inspections/{their_inspection}", headers=mine), 404, "not-found"
    )
    # A resident reads; reporting the fix stays the responsible party's own or staff's.
    assert_problem(
        await client.post(f"/v1/rectifications/{case['id']}/ready", headers=mine), 403, "forbidden"
    )

    copy = await client.get(f"/v1/residents/{me}/data-copy", headers=mine)
    assert copy.status_code == 200, copy.text
    body = copy.json()
    assert body["household_id"] == str(ours.household_id)
    assert [i["id"] for i in body["inspections"]] == [recorded[ours.household_id]["id"]]
    assert body["rectifications"][0]["timeline"][0]["kind"] == "requested"
    for other in (neighbour, uuid.uuid4()):
        assert_problem(
            await client.get(f"/v1/residents/{other}/data-copy", headers=mine), 404, "not-found"
        )
