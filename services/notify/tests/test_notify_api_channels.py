"""The notify HTTP API for inbox, preferences, grid contacts, partner webhooks and templates."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from linli_notify.domain.notice import grid_worker_id
from linli_shared.auth import mint_dev_token
from linli_shared.clock import FixedClock
from linli_shared.contracts import HouseholdRegistered, InspectionFailed
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.contracts.inspections import FailedFindingV1
from linli_shared.contracts.registry import ContactV1, MemberV1
from linli_shared.db import Database
from linli_shared.settings import PlatformSettings
from services.notify.tests.notify_support import NOW, apply, drain, make
from tests.support.api import assert_problem


def bearer(*roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_dev_token(PlatformSettings(), 'tester', roles)}"}


STAFF = bearer("community_staff")
ADMIN = bearer("admin")
RESIDENT_APP = bearer("service")


async def seed_inbox(database: Database, household: uuid.UUID, count: int) -> None:
    """A household that reads notices only in the app, with `count` delivered notices."""
    service = make(database, FixedClock(NOW))
    await service.recipients.remember_household(
        HouseholdRegistered(
            household_id=household,
            community_id="c",
            grid_id="g",
            address="幸福路 1 号",
            members=[MemberV1(name="张三", relation="head")],
            contact_email="zhang@example.com",
            contact=ContactV1(preferred_channels=["inbox"]),
            registered_at=NOW,
        ),
    )
    for i in range(count):
        event = InspectionFailed(
            inspection_id=uuid.uuid4(),
            subject_id=household,
            subject_kind=SubjectKind.HOUSEHOLD,
            checklist="sanitation",
            inspected_at=NOW,
            severity=Severity.LIGHT,
            failed_findings=[FailedFindingV1(item=f"finding {i}", severity=Severity.LIGHT)],
            comply_by=NOW,
        )
        await apply(service, database, event, f"evt-{i}")
    await drain(service)


def fields(body: dict[str, Any]) -> set[str]:
    return {error["field"] for error in body["errors"]}


# --- inbox ----------------------------------------------------------------------------------------


async def test_the_inbox_lists_unread_notices_and_marks_them_read(
    client: httpx.AsyncClient, database: Database
) -> None:
    household = uuid.uuid4()
    await seed_inbox(database, household, 3)
    url = f"/v1/recipients/{household}/inbox"

    page = (await client.get(url, headers=RESIDENT_APP)).json()
    assert (page["unread"], page["total"]) == (3, 3)
    assert len(page["items"]) == 3
    first = page["items"][0]
    assert first["subject"] == "【邻里】整改通知"
    assert "finding" in first["body"]
    assert (first["channel"], first["read"]) == ("inbox", False)

    response = await client.put(
        f"/v1/notices/{first['id']}/read-state", json={"read": True}, headers=RESIDENT_APP
    )
    assert response.status_code == 200, response.text
    assert response.json()["read"] is True
    unread = (await client.get(url, params={"unread": True}, headers=STAFF)).json()
    assert (unread["unread"], unread["total"]) == (2, 2)
    assert first["id"] not in {item["id"] for item in unread["items"]}

    missing = await client.put(
        f"/v1/notices/{uuid.uuid4()}/read-state", json={"read": True}, headers=STAFF
    )
    assert_problem(missing, 404, "not-found")
    bad = await client.put(
        f"/v1/notices/{first['id']}/read-state", json={"read": "maybe"}, headers=STAFF
    )
    assert fields(assert_problem(bad, 422, "validation-error")) == {"read"}
    forbidden = await client.get(url, headers=bearer("inspector"))
    assert_problem(forbidden, 403, "forbidden")


# --- preferences ----------------------------------------------------------------------------------


async def test_preferences_set_the_fallback_chain_quiet_hours_and_digest(
    client: httpx.AsyncClient, database: Database
) -> None:
    household = uuid.uuid4()
    await seed_inbox(database, household, 0)
    url = f"/v1/recipients/{household}/preferences"

    before = (await client.get(url, headers=STAFF)).json()
    assert before["effective_channels"] == ["inbox"]
    assert (before["quiet_hours"], before["digest"]) == (None, False)

    response = await client.put(
        url,
        headers=RESIDENT_APP,
        json={
            "channel_order": ["email", "inbox"],
            "quiet_hours": {"start": "22:00", "end": "07:00"},
            "digest": True,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["channel_order"] == ["email", "inbox"]
    assert body["effective_channels"] == ["email", "inbox"]
    assert body["quiet_hours"] == {"start": "22:00:00", "end": "07:00:00"}
    assert body["digest"] is True
    assert (await client.get(url, headers=STAFF)).json() == body


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"channel_order": ["pigeon"]}, "channel_order.0"),
        ({"channel_order": []}, "channel_order"),
        ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours.start"),
        ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, "quiet_hours"),
        ({"digest": True, "colour": "red"}, "colour"),
    ],
    ids=["unknown-channel", "empty-order", "bad-time", "empty-window", "unknown-field"],
)
async def test_bad_preferences_are_422_naming_the_field(
    client: httpx.AsyncClient, database: Database, payload: dict[str, Any], field: str
) -> None:
    household = uuid.uuid4()
    await seed_inbox(database, household, 0)
    response = await client.put(
        f"/v1/recipients/{household}/preferences", json=payload, headers=STAFF
    )
    assert fields(assert_problem(response, 422, "validation-error")) == {field}


async def test_preferences_of_an_unknown_recipient_are_404(client: httpx.AsyncClient) -> None:
    url = f"/v1/recipients/{uuid.uuid4()}/preferences"
    assert_problem(await client.get(url, headers=STAFF), 404, "not-found")
    assert_problem(await client.put(url, json={}, headers=STAFF), 404, "not-found")


# --- grid contacts --------------------------------------------------------------------------------


async def test_grid_contacts_are_kept_by_staff(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/v1/grid-contacts/g-07",
        headers=STAFF,
        json={
            "name": "王五",
            "phone": "13900139000",
            "channels": ["sms", "email"],
            "email": "wang@grid.example",
        },
    )
    assert response.status_code == 200, response.text
    contact = response.json()
    assert contact["recipient_id"] == str(grid_worker_id("g-07"))
    assert contact["channels"] == ["sms", "email"]

    listed = (await client.get("/v1/grid-contacts", headers=STAFF)).json()
    assert [c["grid_id"] for c in listed["items"]] == ["g-07"]
    assert listed["total"] == 1

    bad = await client.put(
        "/v1/grid-contacts/g-08", headers=STAFF, json={"name": "赵六", "phone": "12345"}
    )
    assert fields(assert_problem(bad, 422, "validation-error")) == {"phone"}
    nothing = await client.put("/v1/grid-contacts/g-08", headers=STAFF, json={"name": "赵六"})
    assert fields(assert_problem(nothing, 422, "validation-error")) == {"email"}
    assert_problem(
        await client.put("/v1/grid-contacts/g-08", headers=bearer("inspector"), json={}),
        403,
        "forbidden",
    )

    assert (await client.delete("/v1/grid-contacts/g-07", headers=STAFF)).status_code == 204
    assert (await client.get("/v1/grid-contacts", headers=STAFF)).json()["items"] == []
    assert_problem(await client.delete("/v1/grid-contacts/g-07", headers=STAFF), 404, "not-found")


# --- partner webhooks -----------------------------------------------------------------------------


async def test_partner_endpoints_are_managed_by_admins(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/v1/webhooks",
        headers=ADMIN,
        json={
            "name": "城管局",
            "url": "https://partner.example/linli",
            "notice_types": ["overdue_escalation"],
            "department": "urban-management",
        },
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    [secret] = endpoint["secrets"]
    assert secret.startswith("whsec_")
    assert endpoint["enabled"] is True

    shown = (await client.get(f"/v1/webhooks/{endpoint['id']}", headers=ADMIN)).json()
    assert shown["secrets"] is None and shown["secret_count"] == 1  # never shown again

    rotated = await client.post(
        f"/v1/webhooks/{endpoint['id']}/rotate-secret", headers=ADMIN, json={}
    )
    new, previous = rotated.json()["secrets"]
    assert previous == secret and new != secret
    retired = await client.post(
        f"/v1/webhooks/{endpoint['id']}/retire-previous-secrets", headers=ADMIN
    )
    assert retired.json()["secret_count"] == 1

    patched = await client.patch(
        f"/v1/webhooks/{endpoint['id']}", headers=ADMIN, json={"enabled": False}
    )
    assert patched.json()["enabled"] is False
    listed = (await client.get("/v1/webhooks", headers=ADMIN)).json()
    assert [e["id"] for e in listed["items"]] == [endpoint["id"]]
    assert listed["total"] == 1
    messages = await client.get(f"/v1/webhooks/{endpoint['id']}/messages", headers=ADMIN)
    assert (messages.json()["items"], messages.json()["total"]) == ([], 0)


async def test_partner_endpoints_refuse_personal_notices_and_non_admins(
    client: httpx.AsyncClient,
) -> None:
    body = {"name": "妇联", "url": "https://partner.example/", "notice_types": ["score_change"]}
    response = await client.post("/v1/webhooks", headers=ADMIN, json=body)
    assert fields(assert_problem(response, 422, "validation-error")) == {"notice_types.0"}
    bad_url = await client.post("/v1/webhooks", headers=ADMIN, json={**body, "url": "not a url"})
    assert "url" in fields(assert_problem(bad_url, 422, "validation-error"))
    staff = await client.post(
        "/v1/webhooks", headers=STAFF, json={**body, "notice_types": ["rectification"]}
    )
    assert_problem(staff, 403, "forbidden")
    assert_problem(
        await client.get(f"/v1/webhooks/{uuid.uuid4()}", headers=ADMIN), 404, "not-found"
    )


# --- templates ------------------------------------------------------------------------------------


async def test_every_notice_type_has_a_template_in_both_locales(
    client: httpx.AsyncClient,
) -> None:
    listed = (await client.get("/v1/templates", headers=STAFF)).json()
    items = listed["items"]
    assert len(items) == listed["total"] == 11  # ten notice types and the digest
    assert all(item["locales"] == ["zh-CN", "en"] for item in items)


async def test_preview_renders_a_template(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/templates/score_change/preview",
        headers=STAFF,
        json={
            "locale": "en-GB",
            "variables": {
                "score_before": 1000,
                "score_after": 980,
                "points": -20,
                "grade_before": "AA",
                "grade_after": "A",
                "reason_code": "inspection.failed",
            },
            "recipient": {"name": "Zhang San", "address": None},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["locale"] == "en"
    assert body["subject"] == "[Linli] Integrity score changed"
    assert body["body"].startswith("Dear Zhang San,")
    assert "from 1000 to 980 (-20)" in body["body"]
    assert "failed inspection" in body["sms"]


async def test_preview_with_a_missing_variable_is_422_naming_it(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/templates/rectification/preview",
        headers=STAFF,
        json={
            "variables": {
                "checklist": "sanitation",
                "inspected_at": "2026-03-01T01:30:00+00:00",
                "findings": [],
            }
        },
    )
    body = assert_problem(response, 422, "validation-error")
    assert fields(body) == {"variables.comply_by"}
    unknown = await client.post(
        "/v1/templates/fortune_cookie/preview", headers=STAFF, json={"variables": {}}
    )
    assert_problem(unknown, 404, "not-found")


RECTIFICATION = {
    "checklist": "sanitation",
    "inspected_at": "2026-03-01T01:30:00+00:00",
    "comply_by": "2026-03-08T01:30:00+00:00",
    "findings": [{"item": "bins", "severity": "general"}],
}


@pytest.mark.parametrize(
    ("changed", "field"),
    [
        ({"inspected_at": "not-a-date"}, "variables.inspected_at"),
        ({"comply_by": "tomorrow"}, "variables.comply_by"),
        ({"findings": [{"item": "bins"}]}, "variables.findings.0.severity"),
        ({"findings": [{"item": "bins", "severity": ["a"]}]}, "variables.findings.0.severity"),
        ({"findings": 5}, "variables"),
    ],
    ids=["date", "time", "no-severity", "severity-list", "findings-number"],
)
async def test_preview_with_a_malformed_variable_is_422_naming_it(
    client: httpx.AsyncClient, changed: dict[str, object], field: str
) -> None:
    response = await client.post(
        "/v1/templates/rectification/preview",
        headers=STAFF,
        json={"variables": {**RECTIFICATION, **changed}},
    )
    body = assert_problem(response, 422, "validation-error")
    assert fields(body) == {field}
