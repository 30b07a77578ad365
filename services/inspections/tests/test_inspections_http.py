"""The new inspections endpoints over HTTP: offline batches, targets, cases, templates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.inspections.tests.announced import announce_household
from tests.support.api import PROBLEM, assert_problem
from tests.support.grid_scope import bearer_of


def bearer(*roles: str) -> dict[str, str]:
    return bearer_of(roles, subject="inspector-9")


# Recording mechanics, not grid reach (test_inspections_grids.py): a token that reaches every grid.
INSPECTOR = bearer("admin")
STAFF = bearer("community_staff")


def _offline(i: int, household: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "subject_id": household,
        "checklist": "sanitation",
        "inspected_at": (datetime.now(UTC) - timedelta(hours=5 - i)).isoformat(),
        "findings": [
            {
                "item": "stairwells clear",
                "passed": i != 0,
                "evidence": [
                    {
                        "photo_ref": f"photos/{i}.jpg",
                        "sha256": "ab" * 32,
                        "latitude": 39.9,
                        "longitude": 116.4,
                    }
                ],
            }
        ],
    }


async def test_an_offline_batch_sent_twice_records_each_inspection_once(
    client: httpx.AsyncClient,
    database_url: str,
) -> None:
    household = str(uuid.uuid4())
    await announce_household(database_url, uuid.UUID(household))
    batch = {"inspections": [_offline(i, household) for i in range(3)]}
    first = await client.post("/v1/inspections/batch", json=batch, headers=INSPECTOR)
    again = await client.post(
        "/v1/inspections/batch", json={"inspections": batch["inspections"][1:]}, headers=INSPECTOR
    )
    assert first.status_code == 200, first.text
    assert (first.json()["recorded"], first.json()["duplicates"]) == (3, 0)
    assert (again.json()["recorded"], again.json()["duplicates"]) == (0, 2)
    stored = await client.get(f"/v1/inspections/{batch['inspections'][0]['id']}", headers=INSPECTOR)
    assert stored.json()["findings"][0]["evidence"][0]["sha256"] == "ab" * 32

    cases = await client.get(
        "/v1/rectifications", params={"subject_id": household}, headers=INSPECTOR
    )
    [case] = cases.json()["items"]
    ready = await client.post(f"/v1/rectifications/{case['id']}/ready", headers=INSPECTOR)
    assert ready.json()["status"] == "ready"
    assert [e["kind"] for e in ready.json()["timeline"]] == ["requested", "ready"]
    twice = await client.post(f"/v1/rectifications/{case['id']}/ready", headers=INSPECTOR)
    assert twice.status_code == 409
    assert twice.headers["content-type"].startswith(PROBLEM)


async def test_a_cases_reinspection_is_scheduled_shown_and_refused_when_bad_or_verified(
    client: httpx.AsyncClient,
    database_url: str,
) -> None:
    household = uuid.uuid4()
    await announce_household(database_url, household)
    failed = _offline(0, str(household))
    await client.post("/v1/inspections", json=failed, headers=INSPECTOR)
    [case] = (
        await client.get(
            "/v1/rectifications", params={"subject_id": str(household)}, headers=INSPECTOR
        )
    ).json()["items"]
    assert case["scheduled_reinspection"] is None
    path = f"/v1/rectifications/{case['id']}/reinspection"
    when = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)

    scheduled = await client.post(
        path,
        json={"scheduled_for": when.isoformat(), "inspector_id": "inspector-3", "note": "东门"},
        headers=STAFF,
    )
    assert scheduled.status_code == 200, scheduled.text
    planned = scheduled.json()["scheduled_reinspection"]
    assert datetime.fromisoformat(planned["scheduled_for"]) == when
    assert (planned["scheduled_by"], planned["inspector_id"], planned["note"]) == (
        "inspector-9",
        "inspector-3",
        "东门",
    )
    assert [e["kind"] for e in scheduled.json()["timeline"]] == [
        "requested",
        "reinspection_scheduled",
    ]
    [listed] = (
        await client.get(
            "/v1/rectifications", params={"subject_id": str(household)}, headers=INSPECTOR
        )
    ).json()["items"]
    assert listed["scheduled_reinspection"] == planned

    for body, field in (
        ({"scheduled_for": "2030-01-01T09:00:00"}, "scheduled_for"),  # no offset
        ({"scheduled_for": "2020-01-01T09:00:00+08:00"}, "scheduled_for"),  # past
        ({"scheduled_for": when.isoformat(), "note": "x" * 501}, "note"),
        ({}, "scheduled_for"),
    ):
        refused = await client.post(path, json=body, headers=STAFF)
        problem = assert_problem(refused, 422, "validation-error")
        assert field in {e["field"] for e in problem["errors"]}, (body, problem)

    await client.post(
        "/v1/inspections",
        json={
            "reinspection_of": case["id"],
            "findings": [{"item": "stairwells clear", "passed": True}],
        },
        headers=INSPECTOR,
    )
    done = (await client.get(f"/v1/rectifications/{case['id']}", headers=INSPECTOR)).json()
    assert done["status"] == "verified" and done["scheduled_reinspection"] is None
    closed = await client.post(path, json={"scheduled_for": when.isoformat()}, headers=STAFF)
    assert_problem(closed, 409, "conflict")


async def test_a_batch_without_client_ids_is_422_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    item = _offline(0, str(uuid.uuid4()))
    del item["id"]
    response = await client.post(
        "/v1/inspections/batch", json={"inspections": [item]}, headers=INSPECTOR
    )
    assert response.status_code == 422
    assert "inspections.0.id" in {e["field"] for e in response.json()["errors"]}


async def test_a_bad_evidence_hash_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    item = _offline(0, str(uuid.uuid4()))
    item["findings"][0]["evidence"][0]["sha256"] = "not-a-hash"
    response = await client.post("/v1/inspections", json=item, headers=INSPECTOR)
    assert response.status_code == 422
    assert "findings.0.evidence.0.sha256" in {e["field"] for e in response.json()["errors"]}


async def test_an_inspection_of_a_subject_the_registry_never_announced_is_refused(
    client: httpx.AsyncClient, database_url: str
) -> None:
    ghost = str(uuid.uuid4())
    item = _offline(0, ghost)  # a failed inspection: it would open a case and cost points
    response = await client.post("/v1/inspections", json=item, headers=INSPECTOR)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    [error] = response.json()["errors"]
    assert error["field"] == "subject_id" and "retry shortly" in error["message"]
    organisation = await client.post(
        "/v1/inspections",
        json=_offline(1, ghost) | {"subject_kind": "organisation"},
        headers=INSPECTOR,
    )
    assert organisation.status_code == 422
    assert organisation.json()["errors"][0]["field"] == "subject_id"

    batch = await client.post(
        "/v1/inspections/batch", json={"inspections": [item]}, headers=INSPECTOR
    )
    [result] = batch.json()["results"]
    assert (result["status"], result["errors"][0]["field"]) == ("invalid", "subject_id")
    assert batch.json()["recorded"] == 0
    assert (await client.get(f"/v1/inspections/{item['id']}", headers=INSPECTOR)).status_code == 404
    cases = await client.get("/v1/rectifications", params={"subject_id": ghost}, headers=INSPECTOR)
    assert cases.json()["items"] == []

    # Once the registration has arrived, the same inspection (same id) is recorded.
    await announce_household(database_url, uuid.UUID(ghost))
    retried = await client.post("/v1/inspections", json=item, headers=INSPECTOR)
    assert retried.status_code == 201, retried.text


async def test_an_unknown_target_is_422_naming_it(client: httpx.AsyncClient) -> None:
    body = {
        "target": {"kind": "compound", "id": "nowhere"},
        "checklist": "sanitation",
        "findings": [{"item": "no-exposed-garbage", "passed": True}],
    }
    response = await client.post("/v1/inspections", json=body, headers=INSPECTOR)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "target.id"


async def test_unknown_cases_and_templates_are_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/rectifications/{uuid.uuid4()}", headers=INSPECTOR)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)
    assert (await client.get("/v1/checklists/juggling", headers=INSPECTOR)).status_code == 404


async def test_templates_are_seeded_and_versioned(client: httpx.AsyncClient) -> None:
    latest = (await client.get("/v1/checklists", headers=STAFF)).json()
    names = [c["name"] for c in latest["items"]]
    assert names == ["frontage_duty", "pest_control", "sanitation", "street_order"]
    assert latest["total"] == 4
    published = await client.put(
        "/v1/checklists/sanitation",
        json={
            "title": "环境卫生检查 v2",
            "items": [{"code": "no-exposed-garbage", "text": "无暴露垃圾", "severity": "serious"}],
        },
        headers=STAFF,
    )
    assert published.status_code == 201, published.text
    assert published.json()["version"] == 2
    assert published.json()["items"][0]["comply_within_hours"] == 24
    versions = await client.get("/v1/checklists/sanitation/versions", headers=STAFF)
    assert [v["version"] for v in versions.json()["items"]] == [1, 2]
    assert versions.json()["total"] == 2
    paged = await client.get(
        "/v1/checklists/sanitation/versions", params={"limit": 1, "offset": 1}, headers=STAFF
    )
    assert ([v["version"] for v in paged.json()["items"]], paged.json()["total"]) == ([2], 2)
    first = await client.get("/v1/checklists/sanitation", params={"version": 1}, headers=STAFF)
    assert len(first.json()["items"]) == 8


async def test_rectification_lists_paginate(client: httpx.AsyncClient, database_url: str) -> None:
    household = str(uuid.uuid4())
    await announce_household(database_url, uuid.UUID(household))
    batch = {"inspections": [_offline(0, household) | {"id": str(uuid.uuid4())} for _ in range(3)]}
    for i, item in enumerate(batch["inspections"]):
        item["inspected_at"] = (datetime.now(UTC) - timedelta(hours=i + 1)).isoformat()
    await client.post("/v1/inspections/batch", json=batch, headers=INSPECTOR)
    page = await client.get(
        "/v1/rectifications", params={"limit": 2, "offset": 2}, headers=INSPECTOR
    )
    assert (page.json()["total"], len(page.json()["items"])) == (3, 1)
