"""A failed compound inspection is the property manager's to rectify, over real processes.

register a community, grid, compound and its property manager (registry) → inspections learns
who answers for the compound from the registry's events → a failed sanitation inspection of the
compound, recorded offline five days before it is uploaded → InspectionFailed and
RectificationRequested keyed by the property manager, due three days from the upload → notify
delivers the rectification notice → the case's full period runs from that delivery
(RectificationNotified; the fair clock), so it is not overdue on arrival → the manager reports the
fix → a re-inspection on time → RectificationVerified (on time). Here the case's API and the
events on Kafka are the evidence.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from linli_shared.contracts import CATALOGUE, topics
from linli_shared.contracts.inspections import (
    InspectionFailed,
    RectificationNotified,
    RectificationRequested,
    RectificationVerified,
)
from linli_shared.messaging.envelope import Envelope
from tests.conftest import SharedPlatform, bearer
from tests.support.events import read_topics
from tests.support.infra import KafkaService
from tests.support.polling import eventually

STAFF = bearer("community_staff")
INSPECTOR = bearer("inspector", subject="inspector-wang", grids=["g-01"])


async def test_failed_compound_inspection_is_rectified_by_the_property_manager_on_time(
    shared_platform: SharedPlatform, http: httpx.AsyncClient, kafka: KafkaService
) -> None:
    platform, kafka_namespace = shared_platform.platform, shared_platform.namespace
    registry = platform.url("registry")
    inspections = platform.url("inspections")
    for path, body in [
        ("communities", {"id": "xingfu", "name": "幸福社区"}),
        ("grids", {"id": "g-01", "community_id": "xingfu", "name": "一网格", "worker_id": "w1"}),
        (
            "compounds",
            {
                "id": "cp-xingfu-garden",
                "community_id": "xingfu",
                "grid_id": "g-01",
                "name": "幸福花园",
                "address": "幸福路 1 号",
            },
        ),
    ]:
        response = await http.post(f"{registry}/v1/{path}", json=body, headers=STAFF)
        assert response.status_code == 201, response.text
    manager = await http.post(
        f"{registry}/v1/organisations",
        headers=STAFF,
        json={
            "kind": "property_manager",
            "name": "安居物业管理处",
            "community_id": "xingfu",
            "grid_id": "g-01",
            "compound_ids": ["cp-xingfu-garden"],
            "contact": {"email": f"anju.{uuid.uuid4().hex[:6]}@example.cn"},
        },
    )
    assert manager.status_code == 201, manager.text
    manager_id = manager.json()["id"]

    # Recorded on the inspector's device five days ago, uploaded now (an offline batch).
    five_days_back = (datetime.now(UTC) - timedelta(days=5)).replace(microsecond=0)
    offline = {
        "id": str(uuid.uuid4()),
        "inspected_at": five_days_back.isoformat(),
        "target": {"kind": "compound", "id": "cp-xingfu-garden"},
        "checklist": "sanitation",
        "findings": [
            {"item": "no-exposed-garbage", "passed": False, "note": "东门垃圾外露"},
            {"item": "stairwells-clear", "passed": True},
        ],
    }

    async def recorded() -> dict[str, object] | None:
        # Until inspections has the registry's event, the compound is not yet known (invalid).
        response = await http.post(
            f"{inspections}/v1/inspections/batch",
            json={"inspections": [offline]},
            headers=INSPECTOR,
        )
        assert response.status_code == 200, response.text
        [item] = response.json()["results"]
        return item["inspection"] if item["status"] in ("recorded", "duplicate") else None

    inspection = await eventually(recorded, "inspections to learn the compound's manager")
    assert inspection["outcome"] == "failed"
    assert inspection["subject_id"] == manager_id
    assert inspection["subject_kind"] == "organisation"

    cases = await http.get(
        f"{inspections}/v1/rectifications", params={"subject_id": manager_id}, headers=INSPECTOR
    )
    [case] = cases.json()["items"]
    uploaded_at = datetime.fromisoformat(case["requested_at"])
    # Not overdue on arrival: three days from the upload until the manager is told.
    assert case["status"] == "open"
    assert datetime.fromisoformat(case["comply_by"]) == uploaded_at + timedelta(days=3)

    async def told() -> dict[str, object] | None:
        response = await http.get(
            f"{inspections}/v1/rectifications/{case['id']}", headers=INSPECTOR
        )
        body: dict[str, object] = response.json()
        return body if body["notified_at"] else None

    notified_case = await eventually(told, "the notice's delivery to reach the case")
    notified_at = datetime.fromisoformat(str(notified_case["notified_at"]))
    assert notified_at >= uploaded_at
    # Its full period (three local days in Shanghai: 72 hours) from the delivery.
    assert datetime.fromisoformat(str(notified_case["comply_by"])) == notified_at + timedelta(
        days=3
    )
    assert datetime.fromisoformat(str(notified_case["observed_at"])) == five_days_back
    timeline = notified_case["timeline"]
    assert isinstance(timeline, list)
    assert [entry["kind"] for entry in timeline] == ["requested", "notified"]
    assert datetime.fromisoformat(timeline[0]["detail"]["inspected_at"]) == five_days_back
    assert datetime.fromisoformat(timeline[1]["at"]) == notified_at
    # The worker sweeps every second here (SHARED_PLATFORM_ENV): still open after a few sweeps.
    await asyncio.sleep(2.5)
    swept = await http.get(f"{inspections}/v1/rectifications/{case['id']}", headers=INSPECTOR)
    assert (swept.json()["status"], swept.json()["escalation"]) == ("open", "none")

    ready = await http.post(f"{inspections}/v1/rectifications/{case['id']}/ready", headers=STAFF)
    assert ready.status_code == 200, ready.text
    reinspection = await http.post(
        f"{inspections}/v1/inspections",
        headers=INSPECTOR,
        json={
            "reinspection_of": case["id"],
            "findings": [{"item": "no-exposed-garbage", "passed": True}],
        },
    )
    assert reinspection.status_code == 201, reinspection.text

    async def verified_published() -> list[Envelope] | None:
        envelopes = await read_topics(kafka.bootstrap, kafka_namespace, [topics.INSPECTIONS])
        mine = [e for e in envelopes if e.subject == manager_id]
        return mine if any(e.type.endswith("rectification.verified.v1") for e in mine) else None

    envelopes = await eventually(verified_published, "the verified event on Kafka")
    events = {e.type: e.parse(CATALOGUE) for e in envelopes}

    failed = events[InspectionFailed.event_type]
    assert isinstance(failed, InspectionFailed)
    assert (failed.subject_id, failed.target_kind, failed.target_id) == (
        uuid.UUID(manager_id),
        "compound",
        "cp-xingfu-garden",
    )
    assert failed.grid_id == "g-01"
    requested = events[RectificationRequested.event_type]
    assert isinstance(requested, RectificationRequested)
    assert str(requested.rectification_id) == case["id"]
    assert [f.item for f in requested.failed_findings] == ["no-exposed-garbage"]
    assert requested.comply_by == uploaded_at + timedelta(days=3)  # provisional
    notified = events[RectificationNotified.event_type]
    assert isinstance(notified, RectificationNotified)
    assert (notified.notified_at, notified.comply_by_before) == (notified_at, requested.comply_by)
    assert notified.comply_by == notified_at + timedelta(days=3)
    verified = events[RectificationVerified.event_type]
    assert isinstance(verified, RectificationVerified)
    assert verified.on_time is True
    assert str(verified.reinspection_id) == reinspection.json()["id"]
    assert verified.comply_by == notified.comply_by
    assert all(e.subject == manager_id for e in envelopes)
