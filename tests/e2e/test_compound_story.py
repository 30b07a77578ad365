"""A failed compound inspection is the property manager's to rectify, over real processes.

register a community, grid, compound and its property manager (registry) → inspections learns
who answers for the compound from the registry's events → a failed sanitation inspection of the
compound → InspectionFailed and RectificationRequested keyed by the property manager →
the manager reports the fix → a re-inspection on time → RectificationVerified (on time).
The notice to the manager is notify's; here the events on Kafka are the evidence.
"""

from __future__ import annotations

import uuid

import httpx

from linli_shared.contracts import CATALOGUE, topics
from linli_shared.contracts.inspections import (
    InspectionFailed,
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

    failed_body = {
        "id": str(uuid.uuid4()),
        "target": {"kind": "compound", "id": "cp-xingfu-garden"},
        "checklist": "sanitation",
        "findings": [
            {"item": "no-exposed-garbage", "passed": False, "note": "东门垃圾外露"},
            {"item": "stairwells-clear", "passed": True},
        ],
    }

    async def recorded() -> dict[str, object] | None:
        # Until inspections has the registry's event, the compound is not yet known (422).
        response = await http.post(
            f"{inspections}/v1/inspections", json=failed_body, headers=INSPECTOR
        )
        return response.json() if response.status_code in (200, 201) else None

    inspection = await eventually(recorded, "inspections to learn the compound's manager")
    assert inspection["outcome"] == "failed"
    assert inspection["subject_id"] == manager_id
    assert inspection["subject_kind"] == "organisation"

    cases = await http.get(
        f"{inspections}/v1/rectifications", params={"subject_id": manager_id}, headers=INSPECTOR
    )
    [case] = cases.json()["items"]
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
    verified = events[RectificationVerified.event_type]
    assert isinstance(verified, RectificationVerified)
    assert verified.on_time is True
    assert str(verified.reinspection_id) == reinspection.json()["id"]
    assert verified.comply_by == requested.comply_by
    assert all(e.subject == manager_id for e in envelopes)
