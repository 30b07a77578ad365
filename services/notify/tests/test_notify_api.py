"""The notify HTTP API on a migrated database: auth, problem+json, notices and pagination."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from linli_shared.auth import mint_dev_token
from linli_shared.clock import FixedClock
from linli_shared.contracts import HouseholdRegistered, InspectionFailed
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.contracts.inspections import FailedFindingV1
from linli_shared.contracts.registry import MemberV1
from linli_shared.db import Database
from linli_shared.settings import PlatformSettings
from services.notify.tests.notify_support import NOW, apply, make
from tests.support.api import assert_problem
from tests.support.infra import free_port
from tests.support.smtp import SmtpSink


def bearer(*roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_dev_token(PlatformSettings(), 'tester', roles)}"}


STAFF = bearer("community_staff")


async def seed(
    database: Database, household: uuid.UUID, count: int, *, deliver: int = 0
) -> list[str]:
    """`count` rectification notices for one household, a second apart; deliver the first ones.

    Returns the source event ids, oldest first.
    """
    clock = FixedClock(NOW)
    sink = SmtpSink(free_port())
    sink.start()
    service = make(database, clock, sink.port, dispatch_batch=1)  # one notice a step
    sources = [f"evt-{household}-{i}" for i in range(count)]
    try:
        await service.recipients.remember_household(
            HouseholdRegistered(
                household_id=household,
                community_id="c",
                grid_id="g",
                address="幸福路 1 号",
                members=[MemberV1(name="张三", relation="head")],
                contact_email="zhang@example.com",
                registered_at=NOW,
            ),
        )
        for i, source in enumerate(sources):
            clock.set(NOW + timedelta(seconds=i))
            event = InspectionFailed(
                inspection_id=uuid.uuid4(),
                subject_id=household,
                subject_kind=SubjectKind.HOUSEHOLD,
                checklist="sanitation",
                inspected_at=NOW - timedelta(hours=1),
                severity=Severity.LIGHT,
                failed_findings=[FailedFindingV1(item="no small ads", severity=Severity.LIGHT)],
                comply_by=NOW + timedelta(days=7),
            )
            await apply(service, database, event, source, correlation_id=f"corr-{i}")
        clock.set(NOW + timedelta(minutes=1))
        for _ in range(deliver):
            assert await service.dispatcher.deliver_next()
    finally:
        sink.stop()
    return sources


def last_parts(body: dict[str, Any]) -> set[str]:
    return {error["field"].split(".")[-1] for error in body["errors"]}


async def test_notices_of_a_recipient_oldest_first(
    client: httpx.AsyncClient, database: Database
) -> None:
    household = uuid.uuid4()
    sources = await seed(database, household, 3)
    await seed(database, uuid.uuid4(), 2)  # someone else's

    response = await client.get(
        "/v1/notices", params={"recipient_id": str(household)}, headers=STAFF
    )

    assert response.status_code == 200, response.text
    page = response.json()
    assert (page["limit"], page["offset"], page["total"]) == (50, 0, 3)
    assert [n["source_event_id"] for n in page["items"]] == sources
    first = page["items"][0]
    assert first["recipient_id"] == str(household)
    assert first["notice_type"] == "rectification"
    assert first["status"] == "pending"
    assert first["attempts"] == 0
    assert first["correlation_id"] == "corr-0"
    assert first["delivered_at"] is None
    assert datetime.fromisoformat(first["created_at"]) == NOW


async def test_limit_and_offset_page_through_the_notices(
    client: httpx.AsyncClient, database: Database
) -> None:
    household = uuid.uuid4()
    sources = await seed(database, household, 5)

    async def page(limit: int, offset: int) -> list[str]:
        response = await client.get(
            "/v1/notices",
            params={"recipient_id": str(household), "limit": limit, "offset": offset},
            headers=STAFF,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["limit"], body["offset"], body["total"]) == (limit, offset, 5)
        return [n["source_event_id"] for n in body["items"]]

    assert await page(2, 0) == sources[0:2]
    assert await page(2, 2) == sources[2:4]
    assert await page(2, 4) == sources[4:5]
    assert await page(2, 6) == []
    assert await page(200, 0) == sources


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 201}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"limit": "many"}, "limit"),
        ({"recipient_id": "household-1"}, "recipient_id"),
        ({"recipient_id": None}, "recipient_id"),
    ],
    ids=[
        "limit-over-200",
        "limit-zero",
        "negative-offset",
        "limit-not-a-number",
        "bad-id",
        "no-id",
    ],
)
async def test_bad_paging_is_422_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    query = {"recipient_id": str(uuid.uuid4()), **params}
    query = {k: v for k, v in query.items() if v is not None}
    response = await client.get("/v1/notices", params=query, headers=STAFF)
    body = assert_problem(response, 422, "validation-error")
    assert last_parts(body) == {field}


async def test_a_notice_with_its_delivery_log(
    client: httpx.AsyncClient, database: Database
) -> None:
    household = uuid.uuid4()
    await seed(database, household, 2, deliver=1)
    listed = await client.get("/v1/notices", params={"recipient_id": str(household)}, headers=STAFF)
    delivered, pending = listed.json()["items"]

    response = await client.get(f"/v1/notices/{delivered['id']}", headers=bearer("service"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "delivered"
    assert body["attempts"] == 1
    assert datetime.fromisoformat(body["delivered_at"]) == NOW + timedelta(minutes=1)
    [delivery] = body["deliveries"]
    assert delivery["channel"] == "email"
    assert delivery["address"] == "zhang@example.com"
    assert delivery["status"] == "delivered"
    assert datetime.fromisoformat(delivery["attempted_at"]) == NOW + timedelta(minutes=1)

    response = await client.get(f"/v1/notices/{pending['id']}", headers=STAFF)
    assert response.json()["status"] == "pending"
    assert response.json()["deliveries"] == []


async def test_no_token_is_401_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/notices", params={"recipient_id": str(uuid.uuid4())})
    assert_problem(response, 401, "unauthenticated")
    response = await client.get(f"/v1/notices/{uuid.uuid4()}")
    assert_problem(response, 401, "unauthenticated")


@pytest.mark.parametrize("role", ["inspector", "partner"])
async def test_other_roles_are_403_problem(client: httpx.AsyncClient, role: str) -> None:
    response = await client.get(
        "/v1/notices", params={"recipient_id": str(uuid.uuid4())}, headers=bearer(role)
    )
    assert_problem(response, 403, "forbidden")
    response = await client.get(f"/v1/notices/{uuid.uuid4()}", headers=bearer(role))
    assert_problem(response, 403, "forbidden")


async def test_unknown_notice_is_404_problem(client: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    response = await client.get(f"/v1/notices/{missing}", headers=STAFF)
    body = assert_problem(response, 404, "not-found")
    assert str(missing) in body["detail"]
