"""The credit HTTP API on a migrated database: auth, problem+json, score and entries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from linli_credit.app import build_use_cases
from linli_credit.domain.policy import PolicyBook, load_policy_book
from linli_shared.auth import mint_dev_token
from linli_shared.clock import FixedClock
from linli_shared.contracts import HouseholdRegistered, InspectionFailed
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.contracts.inspections import FailedFindingV1
from linli_shared.contracts.registry import MemberV1
from linli_shared.db import Database
from linli_shared.settings import PlatformSettings
from tests.support.api import assert_problem

# The shipped policy files, loaded as the app loads them (settings.policy_dir).
POLICIES = load_policy_book()
DEFAULT_POLICY = POLICIES.version("2026.1")

PROBLEM = "application/problem+json"
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def bearer(*roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_dev_token(PlatformSettings(), 'tester', roles)}"}


OFFICER = bearer("credit_officer")


def registered(household: uuid.UUID) -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id=household,
        community_id="dongcheng-01",
        grid_id="grid-03",
        address="幸福路 12 号",
        members=[MemberV1(name="张伟", relation="head")],
        contact_email="zhang@example.cn",
        registered_at=NOW - timedelta(days=30),
    )


async def seed(url: str, subject: uuid.UUID, severities: list[Severity]) -> None:
    """Score failed inspections the way the consumer does, one transaction each."""
    database = Database(url)
    clock = FixedClock(NOW)
    service = build_use_cases(database, clock, PolicyBook((DEFAULT_POLICY,)))
    try:
        async with database.transaction():
            await service.accounts.remember_household(registered(subject))
        for i, severity in enumerate(severities):
            clock.set(NOW + timedelta(minutes=i))
            event = InspectionFailed(
                inspection_id=uuid.uuid4(),
                subject_id=subject,
                subject_kind=SubjectKind.HOUSEHOLD,
                checklist="sanitation",
                inspected_at=NOW - timedelta(hours=1),
                severity=severity,
                failed_findings=[FailedFindingV1(item="stairwells clear", severity=severity)],
                comply_by=NOW + timedelta(days=1),
            )
            async with database.transaction():
                await service.posting.record_failed_inspection(event, f"evt-{subject}-{i}")
    finally:
        await database.dispose()


async def test_score_and_entries_of_a_subject(client: httpx.AsyncClient, database_url: str) -> None:
    subject = uuid.uuid4()
    await seed(database_url, subject, [Severity.GENERAL, Severity.SERIOUS])

    score = await client.get(f"/v1/subjects/{subject}/score", headers=OFFICER)
    assert score.status_code == 200, score.text
    assert score.json() == {
        "subject_id": str(subject),
        "subject_kind": "household",
        "household_id": None,
        "score": 930,
        "grade": "A",
        "policy_version": "2026.1",
        "scoring": {"active": True, "reason": None},
    }

    entries = await client.get(f"/v1/subjects/{subject}/entries", headers=bearer("community_staff"))
    assert entries.status_code == 200, entries.text
    body = entries.json()
    assert body["subject_id"] == str(subject)
    assert [(e["points"], e["severity"], e["source_event_id"]) for e in body["items"]] == [
        (-20, "general", f"evt-{subject}-0"),
        (-50, "serious", f"evt-{subject}-1"),
    ]
    assert all(e["reason_code"] == "inspection.failed" for e in body["items"])
    assert all(e["policy_version"] == DEFAULT_POLICY.version for e in body["items"])
    assert DEFAULT_POLICY.base_score + sum(e["points"] for e in body["items"]) == 930


async def test_no_token_is_401_problem(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/subjects/{uuid.uuid4()}/score")
    assert_problem(response, 401, "unauthenticated")
    response = await client.get(
        f"/v1/subjects/{uuid.uuid4()}/entries", headers={"Authorization": "Bearer not-a-jwt"}
    )
    assert_problem(response, 401, "unauthenticated")


@pytest.mark.parametrize("role", ["inspector", "partner"])
async def test_other_roles_are_403_problem(client: httpx.AsyncClient, role: str) -> None:
    for path in ("score", "entries"):
        response = await client.get(f"/v1/subjects/{uuid.uuid4()}/{path}", headers=bearer(role))
        assert_problem(response, 403, "forbidden")


@pytest.mark.parametrize("path", ["score", "entries"])
async def test_unknown_subject_is_404_problem(client: httpx.AsyncClient, path: str) -> None:
    missing = uuid.uuid4()
    response = await client.get(f"/v1/subjects/{missing}/{path}", headers=OFFICER)
    body = assert_problem(response, 404, "not-found")
    assert str(missing) in body["detail"]


async def test_a_malformed_subject_id_is_422_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/subjects/household-1/score", headers=OFFICER)
    body = assert_problem(response, 422, "validation-error")
    assert [e["field"].split(".")[-1] for e in body["errors"]] == ["subject_id"]
