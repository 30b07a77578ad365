"""Access and copy in the registry: a resident's data-subject request holds the registry's own
records at once, asks every service for theirs with a key of its own, opens each sealed answer,
completes once all have answered, and loses its copies when the resident is erased (SQLite and
PostgreSQL; the API on PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from linli_registry.adapters import tables
from linli_registry.service import UseCases
from linli_shared.clock import FixedClock
from linli_shared.contracts import CATALOGUE
from linli_shared.contracts.access import (
    AccessAnswered,
    AccessRecord,
    AccessRecords,
    AccessRequested,
    CreditAccessAnswered,
    InspectionsAccessAnswered,
    NotifyAccessAnswered,
    access_context,
)
from linli_shared.crypto import SealBroken, seal_to
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.messaging.envelope import Envelope
from linli_shared.reach import Reach
from services.registry.tests.family import (
    ADDRESS,
    NAME,
    SPOUSE_ID_NUMBER,
    SPOUSE_NAME,
    SPOUSE_PHONE,
    register_family,
    spouse_of,
)
from tests.support.grid_scope import bearer


async def _requested(database: Database) -> list[tuple[AccessRequested, str]]:
    """The `access.requested` events in the outbox, with their payloads as stored."""
    async with database.connect() as connection:
        rows = (await connection.execute(select(tables.outbox.c.payload))).scalars().all()
    found = []
    for payload in rows:
        event = Envelope.from_json(payload).parse(CATALOGUE)
        if isinstance(event, AccessRequested):
            found.append((event, payload if isinstance(payload, str) else str(payload)))
    return found


def _answer(
    requested: AccessRequested,
    model: type[AccessAnswered],
    records: list[AccessRecord],
    *,
    context: str | None = None,
) -> AccessAnswered:
    sealed = seal_to(
        requested.public_key,
        AccessRecords(records=records).model_dump_json().encode(),
        context or access_context(requested.access_request_id, model.service),
    )
    return model(
        access_request_id=requested.access_request_id,
        household_id=requested.household_id,
        resident_id=requested.resident_id,
        record_count=len(records),
        records_sealed=sealed,
        answered_at=requested.requested_at,
    )


def _record(category: str, **what: object) -> AccessRecord:
    return AccessRecord(category=category, what=what, purpose="目的", retention="期限")


async def test_a_request_holds_the_registrys_own_records_of_the_resident_at_once(
    registry: UseCases, database: Database
) -> None:
    household = await register_family(registry)

    started = await registry.access.request(
        resident_id=spouse_of(household), id_number=None, reason="her request", requested_by="staff"
    )

    assert started.status == "in_progress"
    assert started.waiting_for == ("inspections", "credit", "notify")
    export = await registry.access.export(started.id)
    own = export.records["registry"]
    assert own is not None
    [member] = [r for r in own if r["category"] == "member"]
    assert member["what"]["name"] == SPOUSE_NAME
    assert member["what"]["id_number"] == SPOUSE_ID_NUMBER  # unmasked: it is theirs
    assert {r["category"] for r in own} == {"member", "household", "household_history"}
    assert all(r["purpose"] and r["retention"] for r in own)


async def test_the_request_event_carries_ids_and_a_public_key_only(
    registry: UseCases, database: Database
) -> None:
    household = await register_family(registry)
    started = await registry.access.request(
        resident_id=spouse_of(household), id_number=None, reason="her request", requested_by="staff"
    )

    [(event, payload)] = await _requested(database)

    assert event.access_request_id == started.id and event.resident_id == spouse_of(household)
    for personal in (SPOUSE_NAME, SPOUSE_ID_NUMBER, SPOUSE_PHONE, ADDRESS, "her request"):
        assert personal not in payload


async def test_a_resident_is_found_by_their_exact_id_number(registry: UseCases) -> None:
    household = await register_family(registry)

    started = await registry.access.request(
        resident_id=None, id_number=SPOUSE_ID_NUMBER, reason="at the desk", requested_by="staff"
    )

    assert started.resident_id == spouse_of(household)
    with pytest.raises(NotFound):
        await registry.access.request(
            resident_id=None, id_number="110105194912310029", reason="x", requested_by="staff"
        )


async def test_a_resident_outside_the_callers_grids_is_not_found(registry: UseCases) -> None:
    household = await register_family(registry)
    elsewhere = Reach(grids=frozenset({"g-08"}))

    with pytest.raises(NotFound):
        await registry.access.request(
            resident_id=spouse_of(household),
            id_number=None,
            reason="x",
            requested_by="gw",
            reach=elsewhere,
        )
    started = await registry.access.request(
        resident_id=spouse_of(household), id_number=None, reason="x", requested_by="staff"
    )
    with pytest.raises(NotFound):
        await registry.access.export(started.id, elsewhere)


async def test_a_request_completes_once_every_service_has_answered_once(
    registry: UseCases, database: Database, clock: FixedClock
) -> None:
    household = await register_family(registry)
    started = await registry.access.request(
        resident_id=spouse_of(household), id_number=None, reason="her request", requested_by="staff"
    )
    [(requested, _)] = await _requested(database)

    await registry.access.record_answer(
        _answer(requested, NotifyAccessAnswered, [_record("notice", subject="整改通知")])
    )
    await registry.access.record_answer(
        _answer(requested, NotifyAccessAnswered, [_record("notice"), _record("notice")])
    )
    await registry.access.record_answer(_answer(requested, CreditAccessAnswered, []))
    assert (await registry.access.get(started.id)).waiting_for == ("inspections",)
    clock.set(clock.now() + timedelta(seconds=5))
    await registry.access.record_answer(
        _answer(requested, InspectionsAccessAnswered, [_record("inspection", note="李秀英")])
    )

    export = await registry.access.export(started.id)
    assert export.request.status == "completed" and export.request.completed_at == clock.now()
    assert export.request.answered == {"registry": 3, "notify": 1, "credit": 0, "inspections": 1}
    assert export.records["notify"] == [_record("notice", subject="整改通知").model_dump()]
    assert export.records["inspections"] == [_record("inspection", note="李秀英").model_dump()]
    async with database.connect() as connection:
        key = await connection.scalar(
            select(tables.access_requests.c.private_key_enc).where(
                tables.access_requests.c.id == started.id
            )
        )
    assert key is None  # every answer is in: the key that opened them is gone


async def test_an_answer_sealed_for_another_request_or_service_does_not_open(
    registry: UseCases, database: Database
) -> None:
    household = await register_family(registry)
    await registry.access.request(
        resident_id=spouse_of(household), id_number=None, reason="her request", requested_by="staff"
    )
    [(requested, _)] = await _requested(database)

    with pytest.raises(SealBroken):
        await registry.access.record_answer(
            _answer(
                requested,
                CreditAccessAnswered,
                [_record("appeal")],
                context=access_context(requested.access_request_id, "notify"),
            )
        )


async def test_erasing_the_resident_removes_the_copies_their_requests_gathered(
    registry: UseCases, database: Database
) -> None:
    household = await register_family(registry)
    started = await registry.access.request(
        resident_id=spouse_of(household), id_number=None, reason="her request", requested_by="staff"
    )
    [(requested, _)] = await _requested(database)
    await registry.access.record_answer(
        _answer(requested, NotifyAccessAnswered, [_record("notice", body="李秀英")])
    )

    erasure = await registry.erasure.erase(
        household.id, resident_id=spouse_of(household), reason="her request", requested_by="staff"
    )
    # An answer arriving after the erasure is counted, but nothing of it is kept.
    await registry.access.record_answer(_answer(requested, CreditAccessAnswered, [_record("x")]))

    assert erasure.removed["registry"]["access_request_copies"] == 2  # registry's, notify's
    export = await registry.access.export(started.id)
    assert export.records == {"registry": None, "notify": None, "credit": None}
    assert export.request.answered["credit"] == 1


async def test_only_staff_and_admins_start_a_request_and_a_grid_worker_only_in_its_grids(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post(
        "/v1/households",
        json={
            "community_id": "c-xingfu",
            "grid_id": "g-07",
            "address": ADDRESS,
            "members": [
                {"name": NAME, "relation": "head"},
                {"name": "<b>李秀英</b>", "relation": "spouse", "id_number": SPOUSE_ID_NUMBER},
            ],
            "contact_email": "wang@example.com",
        },
        headers=bearer("community_staff"),
    )
    assert created.status_code == 201, created.text
    spouse = created.json()["members"][1]["resident_id"]
    body = {"resident_id": spouse, "reason": "her request"}

    for role, grids in (("inspector", ["g-07"]), ("credit_officer", []), ("resident", [])):
        refused = await client.post("/v1/access-requests", json=body, headers=bearer(role, grids))
        assert refused.status_code == 403, role
    elsewhere = await client.post(
        "/v1/access-requests", json=body, headers=bearer("grid_worker", ["g-08"])
    )
    assert elsewhere.status_code == 404
    for bad, field in (
        ({"reason": "x" * 3}, "resident_id"),
        ({**body, "id_number": SPOUSE_ID_NUMBER}, "resident_id"),
        ({"id_number": "11010519491231002Y", "reason": "her request"}, "id_number"),
        ({"resident_id": spouse}, "reason"),
    ):
        refused = await client.post("/v1/access-requests", json=bad, headers=bearer("admin"))
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert field in refused.json()["detail"], refused.text

    accepted = await client.post(
        "/v1/access-requests",
        json={"id_number": SPOUSE_ID_NUMBER, "reason": "her request"},
        headers=bearer("grid_worker", ["g-07"]),
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["resident_id"] == spouse
    assert accepted.json()["waiting_for"] == ["inspections", "credit", "notify"]
    url = f"/v1/access-requests/{accepted.json()['id']}"

    export = await client.get(f"{url}/export", headers=bearer("community_staff"))
    assert export.status_code == 200, export.text
    assert export.headers["cache-control"] == "no-store"
    [member] = [r for r in export.json()["records"] if r["category"] == "member"]
    assert member["what"]["id_number"] == SPOUSE_ID_NUMBER
    page = await client.get(f"{url}/export.html", headers=bearer("admin"))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "个人信息查阅与复制" in page.text and "住户成员记录" in page.text
    assert "&lt;b&gt;李秀英&lt;/b&gt;" in page.text and "<b>李秀英" not in page.text
    for path in (url, f"{url}/export", f"{url}/export.html"):
        hidden = await client.get(path, headers=bearer("grid_worker", ["g-08"]))
        assert hidden.status_code == 404, path
        assert (await client.get(path, headers=bearer("inspector"))).status_code == 403
