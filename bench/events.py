"""Events as the services publish them (real contracts and envelopes), for preloading topics."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from linli_shared.context import EventContext
from linli_shared.contracts import HouseholdRegistered, InspectionFailed
from linli_shared.contracts.inspections import FailedFindingV1
from linli_shared.contracts.registry import MemberV1
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.records import OutgoingRecord


def _record(envelope: Envelope, topic: str) -> OutgoingRecord:
    return OutgoingRecord(topic=topic, key=envelope.partition_key, value=envelope.to_json())


def household_registered(household_id: uuid.UUID, index: int) -> OutgoingRecord:
    event = HouseholdRegistered(
        household_id=household_id,
        community_id="bench-01",
        grid_id=f"grid-{index % 20:02d}",
        address=f"压测路 {index} 号",
        members=[MemberV1(name=f"住户{index}", relation="head")],
        contact_email=f"h{index}@bench.example",
        registered_at=datetime.now(UTC),
    )
    context = EventContext(correlation_id=f"bench-{uuid.uuid4()}")
    return _record(Envelope.wrap(event, source="/linli/registry", context=context), event.topic)


def inspection_failed(household_id: uuid.UUID, note: str = "楼道堆放纸箱") -> OutgoingRecord:
    now = datetime.now(UTC)
    event = InspectionFailed(
        inspection_id=uuid.uuid4(),
        subject_id=household_id,
        subject_kind="household",
        checklist="sanitation",
        inspected_at=now,
        severity="general",
        failed_findings=[
            FailedFindingV1(item="stairwell free of clutter", severity="general", note=note)
        ],
        comply_by=now + timedelta(days=7),
        grid_id="grid-01",
        community_id="bench-01",
    )
    context = EventContext(correlation_id=f"bench-{uuid.uuid4()}")
    return _record(Envelope.wrap(event, source="/linli/inspections", context=context), event.topic)
