"""Every party in the story at its own door, over real processes, Kafka and PostgreSQL.

A property manager signs in for its organisation, sees its compound's case with its comply-by
date and the notice sent to it, reports the fix ready with a note and a photo, and follows the
re-inspection's result; another manager's case and notices are not found (404) and stay as they
were. A shop sees only its frontage segment's cases. A resident follows a failed inspection of
their household from the notice to the explanation of the points, appeals the entry and sees
it reversed; of a neighbour they see nothing, whatever id they ask for.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.conftest import SharedPlatform
from tests.support.grid_scope import bearer
from tests.support.platform import Platform
from tests.support.polling import eventually

COMMUNITY, GRID = "pr-community", "pr-grid"
STAFF = bearer("community_staff", subject="staff-pr")
INSPECTOR = bearer("inspector", [GRID], subject="inspector-pr")
OFFICER = bearer("credit_officer", subject="officer-pr")
FIVE_GOOD = (
    "patriotic_law_abiding_public_spirited",
    "learning_and_dedicated_at_work",
    "equality_respect_for_elders_good_neighbours",
    "modern_customs",
    "thrift_and_environmental_protection",
)
# A valid 1×1 PNG: the manager's photo of the fix.
PHOTO = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c49444154789c63f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)


async def _created(http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post(url, json=body, headers=STAFF)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _places(http: httpx.AsyncClient, registry: str) -> None:
    """The community and grid of this module (created once per platform; 409 after)."""
    for path, body in [
        ("communities", {"id": COMMUNITY, "name": "邻里社区"}),
        ("grids", {"id": GRID, "community_id": COMMUNITY, "name": "一网格", "worker_id": "w-pr"}),
    ]:
        response = await http.post(f"{registry}/v1/{path}", json=body, headers=STAFF)
        assert response.status_code in (201, 409), response.text


async def _organisation(
    http: httpx.AsyncClient, registry: str, kind: str, place: str
) -> dict[str, Any]:
    """A property manager of a new compound `place`, or a shop of the frontage segment."""
    if kind == "property_manager":
        await _created(
            http,
            f"{registry}/v1/compounds",
            {
                "id": place,
                "community_id": COMMUNITY,
                "grid_id": GRID,
                "name": f"花园 {place}",
                "address": f"{place} 路 1 号",
            },
        )
    held = (
        {"compound_ids": [place]} if kind == "property_manager" else {"frontage_segments": [place]}
    )
    return await _created(
        http,
        f"{registry}/v1/organisations",
        {
            "kind": kind,
            "name": f"{kind} {place}",
            "community_id": COMMUNITY,
            "grid_id": GRID,
            "contact": {"email": f"{place}@example.cn", "preferred_channels": ["inbox"]},
            **held,
        },
    )


async def _failed(
    http: httpx.AsyncClient, inspections: str, target: dict[str, Any]
) -> dict[str, Any]:
    """A failed sanitation inspection of the target, once inspections knows who answers for it."""
    body = {
        "id": str(uuid.uuid4()),
        **target,
        "checklist": "sanitation",
        "findings": [{"item": "no-exposed-garbage", "passed": False, "note": "垃圾外露"}],
    }

    async def recorded() -> dict[str, Any] | None:
        response = await http.post(f"{inspections}/v1/inspections", json=body, headers=INSPECTOR)
        if response.status_code in (200, 201):
            found: dict[str, Any] = response.json()
            return found
        assert response.status_code in (403, 422), response.text  # the event is on its way
        return None

    return await eventually(recorded, "inspections to learn the target's responsible party")


def _party(organisation: dict[str, Any], role: str) -> dict[str, str]:
    return bearer(
        role, subject=f"desk-{organisation['id']}", organisation_id=uuid.UUID(organisation["id"])
    )


async def _notices(
    http: httpx.AsyncClient, platform: Platform, recipient: str, headers: dict[str, str]
) -> list[dict[str, Any]] | None:
    response = await http.get(
        f"{platform.url('notify')}/v1/notices", params={"recipient_id": recipient}, headers=headers
    )
    if response.status_code != 200:
        return None
    items: list[dict[str, Any]] = response.json()["items"]
    return [n for n in items if n["status"] == "delivered"] or None


async def test_a_property_manager_reports_its_own_case_ready_and_is_refused_on_anothers(
    shared_platform: SharedPlatform, http: httpx.AsyncClient
) -> None:
    platform = shared_platform.platform
    registry, inspections = platform.url("registry"), platform.url("inspections")
    await _places(http, registry)
    tag = uuid.uuid4().hex[:6]
    ours = await _organisation(http, registry, "property_manager", f"cp-ours-{tag}")
    theirs = await _organisation(http, registry, "property_manager", f"cp-theirs-{tag}")
    manager, other = _party(ours, "property_manager"), _party(theirs, "property_manager")
    failed = await _failed(
        http, inspections, {"target": {"kind": "compound", "id": f"cp-ours-{tag}"}}
    )
    their_failed = await _failed(
        http, inspections, {"target": {"kind": "compound", "id": f"cp-theirs-{tag}"}}
    )

    # The manager sees its own case only, with what it must fix and by when.
    listed = (await http.get(f"{inspections}/v1/rectifications", headers=manager)).json()
    [case] = listed["items"]
    assert case["inspection_id"] == failed["id"] and case["comply_by"]
    assert case["failed_findings"][0]["item"] == "no-exposed-garbage"
    their_case = (
        await http.get(
            f"{inspections}/v1/rectifications",
            params={"subject_id": theirs["id"]},
            headers=other,
        )
    ).json()["items"][0]
    assert their_case["inspection_id"] == their_failed["id"]

    # The rectification notice reached its own inbox; the other manager's notices are not found.
    notices = await eventually(
        lambda: _notices(http, platform, ours["id"], manager), "the manager's rectification notice"
    )
    assert "rectification" in {n["notice_type"] for n in notices}
    refused = await http.get(
        f"{platform.url('notify')}/v1/notices",
        params={"recipient_id": theirs["id"]},
        headers=manager,
    )
    assert refused.status_code == 404, refused.text

    # It reports the fix with a note and a photo; reporting the other's case is not found.
    uploaded = await http.post(
        f"{inspections}/v1/evidence",
        content=PHOTO,
        headers={**manager, "Content-Type": "image/png"},
    )
    assert uploaded.status_code in (200, 201), uploaded.text
    photo = uploaded.json()
    ready = await http.post(
        f"{inspections}/v1/rectifications/{case['id']}/ready",
        json={
            "note": "垃圾已清运",
            "evidence": [{"photo_ref": photo["photo_ref"], "sha256": photo["sha256"]}],
        },
        headers=manager,
    )
    assert ready.status_code == 200, ready.text
    # The ready entry carries the note; the notice's delivery (`notified`) is applied by the
    # inspections worker on its own time, so it may land before or after it on the timeline.
    [reported] = [e for e in ready.json()["timeline"] if e["kind"] == "ready"]
    assert reported["detail"]["note"] == "垃圾已清运"
    hijack = await http.post(
        f"{inspections}/v1/rectifications/{their_case['id']}/ready", headers=manager
    )
    assert hijack.status_code == 404, hijack.text
    assert hijack.headers["content-type"].startswith("application/problem+json")
    service = await http.post(
        f"{inspections}/v1/rectifications/{their_case['id']}/ready", headers=bearer("service")
    )
    assert service.status_code == 403, "the generic service role reports no case ready"
    still = (
        await http.get(f"{inspections}/v1/rectifications/{their_case['id']}", headers=other)
    ).json()
    assert still["status"] == "open"

    # The re-inspection passes: the manager follows the result on its own case.
    reinspected = await http.post(
        f"{inspections}/v1/inspections",
        json={
            "reinspection_of": case["id"],
            "findings": [{"item": "no-exposed-garbage", "passed": True}],
        },
        headers=INSPECTOR,
    )
    assert reinspected.status_code == 201, reinspected.text
    verified = (
        await http.get(f"{inspections}/v1/rectifications/{case['id']}", headers=manager)
    ).json()
    assert (verified["status"], verified["on_time"]) == ("verified", True)
    result = await http.get(
        f"{inspections}/v1/inspections/{verified['reinspection_id']}", headers=manager
    )
    assert result.status_code == 200 and result.json()["outcome"] == "passed"


async def test_a_shop_sees_only_its_segments_cases(
    shared_platform: SharedPlatform, http: httpx.AsyncClient
) -> None:
    platform = shared_platform.platform
    registry, inspections = platform.url("registry"), platform.url("inspections")
    await _places(http, registry)
    tag = uuid.uuid4().hex[:6]
    shop = await _organisation(http, registry, "shop", f"seg-{tag}")
    manager = await _organisation(http, registry, "property_manager", f"cp-{tag}")
    segment = await _failed(
        http, inspections, {"target": {"kind": "frontage_segment", "id": f"seg-{tag}"}}
    )
    compound = await _failed(http, inspections, {"target": {"kind": "compound", "id": f"cp-{tag}"}})
    desk = _party(shop, "shop")
    for params in ({}, {"grid_id": GRID}, {"subject_id": manager["id"]}):
        listed = (
            await http.get(f"{inspections}/v1/rectifications", params=params, headers=desk)
        ).json()
        assert {c["inspection_id"] for c in listed["items"]} <= {segment["id"]}
    own = (await http.get(f"{inspections}/v1/rectifications", headers=desk)).json()["items"]
    assert [c["target_id"] for c in own] == [f"seg-{tag}"]
    hidden = await http.get(f"{inspections}/v1/inspections/{compound['id']}", headers=desk)
    assert hidden.status_code == 404, hidden.text


async def test_a_resident_follows_a_failed_inspection_to_its_reversal_and_sees_no_neighbour(
    shared_platform: SharedPlatform, http: httpx.AsyncClient
) -> None:
    platform = shared_platform.platform
    registry = platform.url("registry")
    credit, notify = platform.url("credit"), platform.url("notify")
    await _places(http, registry)
    tag = uuid.uuid4().hex[:6]
    homes = {}
    for who in ("ours", "neighbour"):
        homes[who] = await _created(
            http,
            f"{registry}/v1/households",
            {
                "community_id": COMMUNITY,
                "grid_id": GRID,
                "address": f"邻里路 {tag} 号 {who}",
                "members": [{"name": f"户主{who}", "relation": "head"}],
                "contact_email": f"{who}.{tag}@example.cn",
            },
        )
    ours, neighbour = homes["ours"], homes["neighbour"]
    resident = ours["members"][0]["resident_id"]
    me = bearer("resident", subject=f"person-{tag}", resident_id=uuid.UUID(resident))
    failed = await _failed(http, platform.url("inspections"), {"subject_id": ours["id"]})

    # The notice: in the household's inbox, read by the resident.
    async def noticed() -> list[dict[str, Any]] | None:
        response = await http.get(f"{notify}/v1/recipients/{ours['id']}/inbox", headers=me)
        if response.status_code != 200:  # notify has not heard of the household yet
            return None
        items: list[dict[str, Any]] = response.json()["items"]
        return [i for i in items if i["notice_type"] == "rectification"] or None

    [notice] = await eventually(noticed, "the rectification notice in the household's inbox")
    assert notice["body"] and notice["read"] is False
    marked = await http.put(
        f"{notify}/v1/notices/{notice['id']}/read-state", json={"read": True}, headers=me
    )
    assert marked.status_code == 200, marked.text

    # The explanation of every point, back to the inspection that caused it.
    async def explained() -> dict[str, Any] | None:
        response = await http.get(f"{credit}/v1/subjects/{ours['id']}/explanation", headers=me)
        body: dict[str, Any] = response.json()
        return body if response.status_code == 200 and body["entries"] else None

    explanation = await eventually(explained, "the household's entry in credit")
    [entry] = explanation["entries"]
    assert entry["points"] < 0 and entry["cause"]["inspection_id"] == failed["id"]
    before = (await http.get(f"{credit}/v1/subjects/{ours['id']}/score", headers=me)).json()

    # The appeal, filed by the resident, upheld by a credit officer: the entry is reversed.
    filed = await http.post(
        f"{credit}/v1/appeals",
        json={"entry_id": entry["id"], "grounds": "垃圾不是我家的"},
        headers=me,
    )
    assert filed.status_code == 201, filed.text
    assert filed.json()["filed_by"] == f"resident:{resident}"
    decided = await http.post(
        f"{credit}/v1/appeals/{filed.json()['id']}/decision",
        json={"outcome": "upheld", "reason": "监控显示为他人所放"},
        headers=OFFICER,
    )
    assert decided.status_code == 200, decided.text
    appeal = (await http.get(f"{credit}/v1/appeals/{filed.json()['id']}", headers=me)).json()
    assert appeal["state"] == "upheld" and appeal["reversal_entry_id"]
    after = (await http.get(f"{credit}/v1/subjects/{ours['id']}/score", headers=me)).json()
    assert after["score"] > before["score"]
    reversal = await eventually(
        lambda: _decision_notice(http, notify, ours["id"], me), "the appeal's decision notice"
    )
    assert reversal["notice_type"] == "appeal_decided"

    # A copy of their own data, from every service.
    for service in ("registry", "inspections", "credit", "notify"):
        copy = await http.get(
            f"{platform.url(service)}/v1/residents/{resident}/data-copy", headers=me
        )
        assert copy.status_code == 200, (service, copy.text)

    # Nothing of the neighbour, whatever id or filter is asked for.
    their_resident = neighbour["members"][0]["resident_id"]
    for url in [
        f"{registry}/v1/households/{neighbour['id']}",
        f"{credit}/v1/subjects/{neighbour['id']}/score",
        f"{credit}/v1/subjects/{neighbour['id']}/explanation",
        f"{credit}/v1/subjects/{their_resident}/entries",
        f"{notify}/v1/notices?recipient_id={neighbour['id']}",
        f"{notify}/v1/recipients/{neighbour['id']}/inbox",
        f"{registry}/v1/residents/{their_resident}/data-copy",
        f"{credit}/v1/residents/{their_resident}/data-copy",
    ]:
        response = await http.get(url, headers=me)
        assert response.status_code == 404, (url, response.status_code, response.text)
    found = await http.get(
        f"{registry}/v1/households", params={"grid_id": GRID, "address": "邻里路"}, headers=me
    )
    assert [h["id"] for h in found.json()["items"]] == [ours["id"]]
    assert neighbour["id"] not in found.text


async def _decision_notice(
    http: httpx.AsyncClient, notify: str, household: str, headers: dict[str, str]
) -> dict[str, Any] | None:
    response = await http.get(f"{notify}/v1/recipients/{household}/inbox", headers=headers)
    if response.status_code != 200:
        return None
    items: list[dict[str, Any]] = response.json()["items"]
    return next((i for i in items if i["notice_type"] == "appeal_decided"), None)


async def test_the_hall_answers_from_the_new_grade_right_after_an_award(
    shared_platform: SharedPlatform, http: httpx.AsyncClient
) -> None:
    """A household earns AA by a five-good award and volunteer hours; the service hall asks at
    once and is answered from the record as it is now, not from the last scheduled evaluation
    (which first runs an hour after the worker starts)."""
    platform = shared_platform.platform
    registry, credit = platform.url("registry"), platform.url("credit")
    await _places(http, registry)
    tag = uuid.uuid4().hex[:6]
    home = await _created(
        http,
        f"{registry}/v1/households",
        {
            "community_id": COMMUNITY,
            "grid_id": GRID,
            "address": f"和谐路 {tag} 号",
            "members": [{"name": f"户主{tag}", "relation": "head"}],
            "contact_email": f"award.{tag}@example.cn",
            "consent": {"integrity_scoring": True},
        },
    )
    subject = home["id"]
    hall = bearer("service", subject="hall-pr")

    async def opened() -> dict[str, Any] | None:
        response = await http.get(f"{credit}/v1/subjects/{subject}/score", headers=OFFICER)
        body: dict[str, Any] = response.json()
        return body if response.status_code == 200 else None

    assert (await eventually(opened, "the household's account in credit"))["grade"] == "A"
    before = await http.get(f"{credit}/v1/subjects/{subject}/green-channel", headers=hall)
    assert before.status_code == 200 and before.json()["granted"] is False, before.text

    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    awarded = await http.post(
        f"{credit}/v1/subjects/{subject}/five-good-awards",
        json={"year": today.year, "criteria": dict.fromkeys(FIVE_GOOD, True)},
        headers=OFFICER,
    )
    assert awarded.status_code == 201, awarded.text
    served = await http.post(
        f"{credit}/v1/subjects/{subject}/volunteer-hours",
        json={
            "hours": 10,
            "served_on": today.isoformat(),
            "activity": "street patrol",
            "resident_id": home["members"][0]["resident_id"],
        },
        headers=STAFF,
    )
    assert served.status_code == 201, served.text
    score = (await http.get(f"{credit}/v1/subjects/{subject}/score", headers=OFFICER)).json()
    assert score["grade"] == "AA", score

    answer = await http.get(f"{credit}/v1/subjects/{subject}/green-channel", headers=hall)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["granted"], answer.json()["grade"]) == (True, "AA"), answer.text
