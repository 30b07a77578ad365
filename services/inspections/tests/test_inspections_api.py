"""The inspections HTTP API on a migrated database: auth, problem+json, the happy path."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.inspections.tests.announced import announce_household
from tests.support.api import assert_problem
from tests.support.grid_scope import bearer_of


def bearer(*roles: str, subject: str = "tester") -> dict[str, str]:
    return bearer_of(roles, subject=subject)


# Recording mechanics, not grid reach (test_inspections_grids.py): a token that reaches every grid.
INSPECTOR = bearer("admin", subject="inspector-7")


# The household every inspection here names; the client fixture has the registry announce it.
HOUSEHOLD = uuid.uuid4()


def inspection(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject_id": str(HOUSEHOLD),
        "subject_kind": "household",
        "checklist": "sanitation",
        "inspected_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "findings": [
            {"item": "no exposed garbage", "passed": True, "severity": "serious"},
            {"item": "stairwells clear", "passed": False, "severity": "general", "note": "堆物"},
        ],
    }
    body.update(overrides)
    return body


@pytest.fixture(autouse=True)
async def household(database_url: str) -> None:
    await announce_household(database_url, HOUSEHOLD)


def error_fields(body: dict[str, Any]) -> set[str]:
    return {error["field"] for error in body["errors"]}


async def test_record_a_failed_inspection_and_read_it_back(client: httpx.AsyncClient) -> None:
    sent = inspection()
    before = datetime.now(UTC)
    created = await client.post("/v1/inspections", json=sent, headers=INSPECTOR)
    after = datetime.now(UTC)

    assert created.status_code == 201, created.text
    body = created.json()
    inspected_at = datetime.fromisoformat(sent["inspected_at"])
    assert body["subject_id"] == sent["subject_id"]
    assert body["subject_kind"] == "household"
    assert body["checklist"] == "sanitation"
    assert body["inspector_id"] == "inspector-7"  # from the token, not the body
    assert datetime.fromisoformat(body["inspected_at"]) == inspected_at
    assert body["outcome"] == "failed"
    assert body["severity"] == "general"
    # Three days from its upload, not from the inspection an hour before (the fair clock).
    comply_by = datetime.fromisoformat(body["comply_by"])
    assert before + timedelta(days=3) <= comply_by <= after + timedelta(days=3)
    assert [(f["item"], f["passed"], f["severity"], f["note"]) for f in body["findings"]] == [
        ("no exposed garbage", True, "serious", None),
        ("stairwells clear", False, "general", "堆物"),
    ]

    fetched = await client.get(f"/v1/inspections/{body['id']}", headers=bearer("credit_officer"))
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == body


async def test_record_a_passed_inspection(client: httpx.AsyncClient) -> None:
    sent = inspection(
        inspected_at=None,
        findings=[{"item": "no stalls on main roads", "passed": True}],
    )
    del sent["inspected_at"]
    before = datetime.now(UTC)
    created = await client.post("/v1/inspections", json=sent, headers=INSPECTOR)

    assert created.status_code == 201, created.text
    body = created.json()
    assert body["outcome"] == "passed"
    assert body["severity"] is None
    assert body["comply_by"] is None
    assert body["findings"][0]["severity"] == "general"  # the default
    assert datetime.fromisoformat(body["inspected_at"]) >= before - timedelta(seconds=1)


async def test_no_token_is_401_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/inspections", json=inspection())
    assert_problem(response, 401, "unauthenticated")
    response = await client.get(f"/v1/inspections/{uuid.uuid4()}")
    assert_problem(response, 401, "unauthenticated")


@pytest.mark.parametrize("role", ["community_staff", "credit_officer", "partner", "service"])
async def test_recording_needs_an_inspector(client: httpx.AsyncClient, role: str) -> None:
    response = await client.post("/v1/inspections", json=inspection(), headers=bearer(role))
    assert_problem(response, 403, "forbidden")


async def test_reading_is_forbidden_to_partners(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/inspections/{uuid.uuid4()}", headers=bearer("partner"))
    assert_problem(response, 403, "forbidden")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"findings": [{"item": "no exposed garbage"}]}, "findings.0.passed"),
        ({"findings": []}, "findings"),
        ({"subject_id": "household-1"}, "subject_id"),
        ({"subject_kind": "alien"}, "subject_kind"),
        ({"checklist": ""}, "checklist"),
        ({"inspected_at": "2026-03-01T09:00:00"}, "inspected_at"),  # no time zone
        (
            {"findings": [{"item": "x", "passed": False, "severity": "catastrophic"}]},
            "findings.0.severity",
        ),
    ],
    ids=[
        "finding-without-passed",
        "no-findings",
        "bad-subject-id",
        "bad-subject-kind",
        "empty-checklist",
        "naive-time",
        "bad-severity",
    ],
)
async def test_invalid_bodies_are_422_naming_the_field(
    client: httpx.AsyncClient, overrides: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/inspections", json=inspection(**overrides), headers=INSPECTOR)
    body = assert_problem(response, 422, "validation-error")
    assert field in error_fields(body)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (
            {"inspected_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat()},
            "inspected_at",
        ),
        (
            {
                "findings": [
                    {"item": "no exposed garbage", "passed": True},
                    {"item": "no exposed garbage", "passed": False},
                ]
            },
            "findings",
        ),
    ],
    ids=["in-the-future", "duplicate-item"],
)
async def test_domain_rule_violations_are_422_naming_the_field(
    client: httpx.AsyncClient, overrides: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/inspections", json=inspection(**overrides), headers=INSPECTOR)
    body = assert_problem(response, 422, "validation-error")
    assert error_fields(body) == {field}
    assert body["errors"][0]["code"] == "rule_violation"


async def test_unknown_inspection_is_404_problem(client: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    response = await client.get(f"/v1/inspections/{missing}", headers=INSPECTOR)
    body = assert_problem(response, 404, "not-found")
    assert str(missing) in body["detail"]


async def test_sending_the_same_inspection_again_answers_200_with_the_first(
    client: httpx.AsyncClient,
) -> None:
    sent = inspection(id=str(uuid.uuid4()))
    first = await client.post("/v1/inspections", json=sent, headers=INSPECTOR)
    again = await client.post("/v1/inspections", json=sent, headers=INSPECTOR)

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert first.json()["id"] == sent["id"]


async def test_the_same_id_with_other_content_is_409_problem(client: httpx.AsyncClient) -> None:
    sent = inspection(id=str(uuid.uuid4()))
    first = await client.post("/v1/inspections", json=sent, headers=INSPECTOR)
    assert first.status_code == 201, first.text

    changed = {**sent, "findings": [{"item": "no exposed garbage", "passed": True}]}
    response = await client.post("/v1/inspections", json=changed, headers=INSPECTOR)
    assert_problem(response, 409, "conflict")

    fetched = await client.get(f"/v1/inspections/{sent['id']}", headers=INSPECTOR)
    assert fetched.json() == first.json()


async def test_a_malformed_client_id_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/inspections", json=inspection(id="inspection-1"), headers=INSPECTOR
    )
    body = assert_problem(response, 422, "validation-error")
    assert "id" in error_fields(body)


PHOTO = {
    "photo_ref": "s3://evidence/2026/03/stairwell.jpg",
    "sha256": "cd" * 32,
    "latitude": 39.9042,
    "longitude": 116.4074,
}


async def test_a_photo_dated_years_ahead_is_422_naming_its_field(client: httpx.AsyncClient) -> None:
    ahead = (datetime.now(UTC) + timedelta(days=3 * 365)).isoformat()
    sent = inspection()
    sent["findings"][1]["evidence"] = [{**PHOTO, "taken_at": ahead}]
    response = await client.post("/v1/inspections", json=sent, headers=INSPECTOR)
    body = assert_problem(response, 422, "validation-error")
    assert error_fields(body) == {"findings.1.evidence.0.taken_at"}


async def test_a_rectification_case_shows_its_inspections_evidence(
    client: httpx.AsyncClient,
) -> None:
    taken_at = (datetime.now(UTC) - timedelta(hours=1, minutes=2)).replace(microsecond=0)
    sent = inspection()
    sent["findings"][1]["evidence"] = [{**PHOTO, "taken_at": taken_at.isoformat()}]
    created = await client.post("/v1/inspections", json=sent, headers=INSPECTOR)
    assert created.status_code == 201, created.text
    listed = await client.get(
        "/v1/rectifications", params={"subject_id": sent["subject_id"]}, headers=INSPECTOR
    )
    [summary] = listed.json()["items"]

    case = await client.get(f"/v1/rectifications/{summary['id']}", headers=INSPECTOR)

    assert case.status_code == 200, case.text
    [finding] = case.json()["failed_findings"]
    assert finding["item"] == "stairwells clear"
    [photo] = finding["evidence"]
    assert (photo["sha256"], photo["latitude"], photo["longitude"]) == (
        "cd" * 32,
        39.9042,
        116.4074,
    )
    assert datetime.fromisoformat(photo["taken_at"]) == taken_at
    assert photo["photo_ref"] == PHOTO["photo_ref"]
