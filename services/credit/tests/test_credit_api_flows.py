"""The credit HTTP API for every flow: explain, green channel, rewards, appeals, repair, reports."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx

from linli_credit.app import build_use_cases
from linli_credit.domain.policy import PolicyBook, load_policy_book
from linli_shared.auth import mint_dev_token
from linli_shared.clock import FixedClock
from linli_shared.contracts import HouseholdRegistered, InspectionFailed
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.contracts.inspections import FailedFindingV1
from linli_shared.contracts.registry import ConsentV1, MemberV1
from linli_shared.db import Database
from linli_shared.settings import PlatformSettings
from tests.support.api import assert_problem

# The shipped policy files, loaded as the app loads them (settings.policy_dir).
POLICIES = load_policy_book()
DEFAULT_POLICY = POLICIES.version("2026.1")

PROBLEM = "application/problem+json"
NOW = datetime.now(UTC).replace(microsecond=0)  # the app runs on the system clock


def bearer(*roles: str, subject: str = "tester", grids: tuple[str, ...] = ()) -> dict[str, str]:
    token = mint_dev_token(PlatformSettings(), subject, roles, grids)
    return {"Authorization": f"Bearer {token}"}


OFFICER = bearer("credit_officer", subject="officer-zhao")
STAFF = bearer("community_staff", subject="staff-li")
HALL = bearer("service", subject="service-hall-1")
CRITERIA = {
    "patriotic_law_abiding_public_spirited": True,
    "learning_and_dedicated_at_work": True,
    "equality_respect_for_elders_good_neighbours": True,
    "modern_customs": True,
    "thrift_and_environmental_protection": True,
}


async def consume(url: str, *events: tuple[str, HouseholdRegistered | InspectionFailed]) -> None:
    """Apply events the way the consumer does, at the time they happened."""
    database = Database(url)
    try:
        for event_id, event in events:
            at = event.inspected_at if isinstance(event, InspectionFailed) else event.registered_at
            service = build_use_cases(database, FixedClock(at), PolicyBook((DEFAULT_POLICY,)))
            async with database.transaction():
                if isinstance(event, HouseholdRegistered):
                    await service.accounts.remember_household(event)
                else:
                    await service.posting.record_failed_inspection(event, event_id)
    finally:
        await database.dispose()


def registered(
    household: uuid.UUID, consent: bool | None = None, resident: uuid.UUID | None = None
) -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id=household,
        community_id="api-community",
        grid_id="grid-1",
        address="幸福路 1 号",
        members=[MemberV1(name="张伟", relation="head", resident_id=resident)],
        contact_email="zhang@example.cn",
        registered_at=NOW - timedelta(days=400),
        consent=None if consent is None else ConsentV1(integrity_scoring=consent),
    )


def failed(
    household: uuid.UUID, severity: Severity, days_ago: float
) -> tuple[str, InspectionFailed]:
    at = NOW - timedelta(days=days_ago)
    return (
        f"evt-{uuid.uuid4()}",
        InspectionFailed(
            inspection_id=uuid.uuid4(),
            subject_id=household,
            subject_kind=SubjectKind.HOUSEHOLD,
            checklist="sanitation",
            inspected_at=at,
            severity=severity,
            failed_findings=[FailedFindingV1(item="no exposed garbage", severity=severity)],
            comply_by=at + timedelta(days=2),
            community_id="api-community",
        ),
    )


async def test_explain_names_every_entry_its_cause_rule_and_policy(
    client: httpx.AsyncClient, database_url: str
) -> None:
    household = uuid.uuid4()
    event_id, event = failed(household, Severity.GENERAL, days_ago=3)
    await consume(database_url, ("r", registered(household)), (event_id, event))

    response = await client.get(f"/v1/subjects/{household}/explanation", headers=STAFF)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["score"], body["grade"], body["base_score"]) == (980, "A", 1000)
    # Base, bounds and grades are those of the version in effect now; the entry keeps its own.
    assert body["counting_points"] == -20 and body["policy_version"] == "2026.3"
    [entry] = body["entries"]
    assert entry["counts"] is True
    assert entry["rule"] == "points.inspection_failed.general"
    assert entry["policy_version"] == "2026.1"
    assert entry["inspection_id"] == str(event.inspection_id)
    assert entry["cause"]["failed_findings"][0]["item"] == "no exposed garbage"
    assert entry["source_event_id"] == event_id

    before = (NOW - timedelta(days=10)).isoformat()
    past = await client.get(
        f"/v1/subjects/{household}/explanation", params={"at": before}, headers=STAFF
    )
    assert past.status_code == 200
    assert (past.json()["score"], past.json()["entries"][0]["counts"]) == (1000, False)

    naive = await client.get(
        f"/v1/subjects/{household}/explanation",
        params={"at": "2026-03-01T00:00:00"},
        headers=STAFF,
    )
    assert assert_problem(naive, 422, "validation-error")["errors"][0]["field"] == "at"


async def test_the_score_says_why_a_household_is_not_scored(
    client: httpx.AsyncClient, database_url: str
) -> None:
    household = uuid.uuid4()
    await consume(
        database_url,
        ("r", registered(household, consent=False)),
        failed(household, Severity.SERIOUS, days_ago=1),
    )
    body = (await client.get(f"/v1/subjects/{household}/score", headers=STAFF)).json()
    assert body["score"] == 1000
    assert body["scoring"]["active"] is False
    assert "consent" in body["scoring"]["reason"]


async def test_green_channel_check_is_audited_and_for_the_hall(
    client: httpx.AsyncClient, database_url: str
) -> None:
    household = uuid.uuid4()
    await consume(database_url, ("r", registered(household)))
    response = await client.get(f"/v1/subjects/{household}/green-channel", headers=HALL)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["granted"] is False and body["check_id"] >= 1
    # Policy 2026.3 opens a household at grade A, which does not earn it: said at the first check.
    assert body["reason"] == "grade A does not earn the green channel"
    assert_problem(
        await client.get(f"/v1/subjects/{household}/green-channel", headers=bearer("partner")),
        403,
        "forbidden",
    )
    assert_problem(
        await client.get(f"/v1/subjects/{uuid.uuid4()}/green-channel", headers=HALL),
        404,
        "not-found",
    )


async def test_volunteer_hours_with_an_idempotency_key(
    client: httpx.AsyncClient, database_url: str
) -> None:
    household, resident = uuid.uuid4(), uuid.uuid4()
    await consume(database_url, ("r", registered(household, resident=resident)))
    path = f"/v1/subjects/{household}/volunteer-hours"
    body = {"hours": 3, "served_on": str(NOW.date() - timedelta(days=1)), "activity": "巡逻"}
    headers = {**STAFF, "Idempotency-Key": "vol-1"}
    # Policy 2026.3 (in effect now), like 2026.2, makes volunteer hours personal: name who.
    unnamed = await client.post(path, json=body, headers=headers)
    assert assert_problem(unnamed, 422, "validation-error")["errors"][0]["field"] == "resident_id"
    body["resident_id"] = str(resident)
    first = await client.post(path, json=body, headers=headers)
    again = await client.post(path, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["points"] == 6
    invalid = await client.post(path, json={**body, "hours": 0}, headers=STAFF)
    assert assert_problem(invalid, 422, "validation-error")["errors"][0]["field"] == "hours"
    stranger = await client.post(
        path, json={**body, "resident_id": str(uuid.uuid4())}, headers=STAFF
    )
    assert assert_problem(stranger, 422, "validation-error")["errors"][0]["field"] == "resident_id"
    assert_problem(
        await client.post(path, json=body, headers=bearer("grid_worker")), 403, "forbidden"
    )


async def test_a_resident_is_a_subject_with_score_explanation_and_point_in_time(
    client: httpx.AsyncClient, database_url: str
) -> None:
    household, resident = uuid.uuid4(), uuid.uuid4()
    await consume(database_url, ("r", registered(household, resident=resident)))
    served = NOW.date() - timedelta(days=2)
    body = {"hours": 5, "served_on": str(served), "activity": "清扫楼道"}
    recorded = await client.post(
        f"/v1/subjects/{resident}/volunteer-hours", json=body, headers=STAFF
    )
    assert recorded.status_code == 201, recorded.text

    score = (await client.get(f"/v1/subjects/{resident}/score", headers=STAFF)).json()
    assert score["subject_kind"] == "resident" and score["household_id"] == str(household)
    assert (score["score"], score["scoring"]["active"]) == (1010, True)
    # The policy counts the personal entry toward the household too, as an entry of its own.
    [mirror] = (await client.get(f"/v1/subjects/{household}/entries", headers=STAFF)).json()[
        "items"
    ]
    assert mirror["points"] == 10 and mirror["cause"]["personal_entry_id"] == recorded.json()["id"]
    assert mirror["cause"]["resident_id"] == str(resident)

    explained = (await client.get(f"/v1/subjects/{resident}/explanation", headers=STAFF)).json()
    assert explained["subject_kind"] == "resident" and explained["score"] == 1010
    [entry] = explained["entries"]
    assert (entry["rule"], entry["policy_version"]) == ("points.volunteer.per_hour", "2026.3")
    before = (
        await client.get(
            f"/v1/subjects/{resident}/explanation",
            params={"at": f"{served - timedelta(days=1)}T00:00:00+08:00"},
            headers=STAFF,
        )
    ).json()
    assert before["score"] == 1000 and before["entries"][0]["counts"] is False


async def test_a_resident_of_a_household_without_consent_gets_no_entries_and_is_told_why(
    client: httpx.AsyncClient, database_url: str
) -> None:
    household, resident = uuid.uuid4(), uuid.uuid4()
    await consume(database_url, ("r", registered(household, consent=False, resident=resident)))
    score = (await client.get(f"/v1/subjects/{resident}/score", headers=STAFF)).json()
    assert score["scoring"]["active"] is False
    assert "household's consent" in score["scoring"]["reason"]
    body = {"hours": 2, "served_on": str(NOW.date()), "activity": "巡逻"}
    refused = await client.post(
        f"/v1/subjects/{resident}/volunteer-hours", json=body, headers=STAFF
    )
    assert "household's consent" in assert_problem(refused, 409, "conflict")["detail"]
    entries = (await client.get(f"/v1/subjects/{resident}/entries", headers=STAFF)).json()
    assert entries["items"] == []


async def test_five_good_award_by_a_credit_officer(
    client: httpx.AsyncClient, database_url: str
) -> None:
    household = uuid.uuid4()
    await consume(database_url, ("r", registered(household)))
    path = f"/v1/subjects/{household}/five-good-awards"
    year = NOW.year
    missing = await client.post(
        path,
        json={"year": year, "criteria": {**CRITERIA, "modern_customs": False}},
        headers=OFFICER,
    )
    assert assert_problem(missing, 422, "validation-error")["errors"][0]["field"] == (
        "criteria.modern_customs"
    )
    awarded = await client.post(path, json={"year": year, "criteria": CRITERIA}, headers=OFFICER)
    assert awarded.status_code == 201, awarded.text
    assert awarded.json()["points"] == 100
    assert_problem(
        await client.post(path, json={"year": year, "criteria": CRITERIA}, headers=OFFICER),
        409,
        "conflict",
    )
    # Policy 2026.3 (in effect now): the award alone does not earn AA.
    score = (await client.get(f"/v1/subjects/{household}/score", headers=STAFF)).json()
    assert (score["score"], score["grade"]) == (1100, "A")


async def test_appeal_filed_by_staff_for_a_resident_and_upheld_by_an_officer(
    client: httpx.AsyncClient, database_url: str
) -> None:
    household = uuid.uuid4()
    await consume(
        database_url, ("r", registered(household)), failed(household, Severity.SERIOUS, 2)
    )
    [entry] = (await client.get(f"/v1/subjects/{household}/entries", headers=STAFF)).json()["items"]
    filed = await client.post(
        "/v1/appeals",
        json={"entry_id": entry["id"], "grounds": "垃圾不是我家的", "resident": "member-1"},
        headers=bearer("grid_worker", subject="grid-wang", grids=("grid-1",)),
    )
    assert filed.status_code == 201, filed.text
    appeal = filed.json()
    assert appeal["state"] == "received" and appeal["overdue"] is False
    assert appeal["filed_by"] == "resident:member-1 via staff:grid-wang"

    listed = await client.get("/v1/appeals", params={"state": "received"}, headers=OFFICER)
    assert [a["id"] for a in listed.json()["items"]] == [appeal["id"]]
    assert_problem(
        await client.post(
            f"/v1/appeals/{appeal['id']}/decision",
            json={"outcome": "upheld", "reason": "x"},
            headers=STAFF,
        ),
        403,
        "forbidden",
    )
    decided = await client.post(
        f"/v1/appeals/{appeal['id']}/decision",
        json={"outcome": "upheld", "reason": "监控显示为邻居所放"},
        headers=OFFICER,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "upheld"
    assert decided.json()["decided_by"] == "officer-zhao"
    assert decided.json()["reversal_entry_id"]
    score = (await client.get(f"/v1/subjects/{household}/score", headers=STAFF)).json()
    assert score["score"] == 1000
    assert_problem(
        await client.post(
            f"/v1/appeals/{appeal['id']}/decision",
            json={"outcome": "rejected", "reason": "again"},
            headers=OFFICER,
        ),
        409,
        "conflict",
    )
    bad = await client.post(
        f"/v1/appeals/{appeal['id']}/decision",
        json={"outcome": "maybe", "reason": "x"},
        headers=OFFICER,
    )
    assert assert_problem(bad, 422, "validation-error")["errors"][0]["field"] == "outcome"
    assert_problem(
        await client.get(f"/v1/appeals/{uuid.uuid4()}", headers=OFFICER), 404, "not-found"
    )


async def test_repair_through_the_api(client: httpx.AsyncClient, database_url: str) -> None:
    household = uuid.uuid4()
    await consume(
        database_url,
        ("r", registered(household)),
        failed(household, Severity.LIGHT, days_ago=100),  # light: repairable after 3 months
        failed(household, Severity.LIGHT, days_ago=10),
    )
    old, recent = (await client.get(f"/v1/subjects/{household}/entries", headers=STAFF)).json()[
        "items"
    ]
    too_early = await client.post(
        f"/v1/entries/{recent['id']}/repair", json={"note": "整改到位"}, headers=OFFICER
    )
    assert assert_problem(too_early, 422, "validation-error")["errors"][0]["field"] == "entry_id"
    repaired = await client.post(
        f"/v1/entries/{old['id']}/repair", json={"note": "整改到位"}, headers=OFFICER
    )
    assert repaired.status_code == 201, repaired.text
    assert (repaired.json()["points"], repaired.json()["refers_to"]) == (5, old["id"])
    score = (await client.get(f"/v1/subjects/{household}/score", headers=STAFF)).json()
    assert score["score"] == 995


async def test_quarter_report_and_policies(client: httpx.AsyncClient, database_url: str) -> None:
    household = uuid.uuid4()
    await consume(database_url, ("r", registered(household)))
    quarter = f"{NOW.year}-Q{(NOW.month - 1) // 3 + 1}"
    report = await client.get(
        f"/v1/reports/communities/api-community/quarters/{quarter}", headers=OFFICER
    )
    assert report.status_code == 200, report.text
    assert report.json()["distribution"]["A"] == 1  # policy 2026.3 opens in the neutral grade
    assert report.json()["red_list"] == [] and report.json()["black_list"] == []
    bad = await client.get("/v1/reports/communities/x/quarters/2026-Q5", headers=OFFICER)
    assert assert_problem(bad, 422, "validation-error")["errors"][0]["field"] == "path.quarter"
    policies = (await client.get("/v1/policies", headers=STAFF)).json()
    assert [p["version"] for p in policies["items"]] == ["2026.1", "2026.2", "2026.3"]
    assert [p["in_effect"] for p in policies["items"]] == [False, False, True]
    assert policies["total"] == 3


async def test_a_quarter_report_of_an_unknown_community_is_404_and_of_a_future_quarter_422(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await consume(database_url, ("r", registered(uuid.uuid4())))  # in api-community
    running = f"{NOW.year}-Q{(NOW.month - 1) // 3 + 1}"
    next_year = f"{NOW.year + 1}-Q1"

    unknown = await client.get(
        f"/v1/reports/communities/no-such-community/quarters/{running}", headers=OFFICER
    )
    assert (
        "no community with id no-such-community"
        in assert_problem(unknown, 404, "not-found")["detail"]
    )
    future = await client.get(
        f"/v1/reports/communities/api-community/quarters/{next_year}", headers=OFFICER
    )
    assert assert_problem(future, 422, "validation-error")["errors"][0]["field"] == "quarter"
    past = await client.get(
        f"/v1/reports/communities/api-community/quarters/{NOW.year - 1}-Q4", headers=OFFICER
    )
    assert past.status_code == 200, past.text
