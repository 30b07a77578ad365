"""The new inspections endpoints over HTTP: offline batches, targets, cases, templates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.inspections.tests.announced import announce_household
from tests.support.api import PROBLEM
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
