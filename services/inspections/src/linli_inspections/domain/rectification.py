"""Rectification cases: a failed inspection's fix, from request to verification or escalation.

    open ──report ready──▶ ready ──re-inspection passes──▶ verified
      │                      └──re-inspection fails──▶ open (same deadline)
      └──deadline passes──▶ overdue ──(report ready / re-inspection as above)
                              └── escalated: grid worker at once, the department after a while

`on_time` of a verification: the fix was reported (or, unreported, verified) by the deadline.
Every transition returns the case and the timeline entry that records it.

A case not yet verified may have its re-inspection scheduled (and rescheduled: the latest
schedule is the pending one, the timeline keeps each); recording the re-inspection clears it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from linli_inspections.domain.inspection import DEFAULT_CLOCK_SKEW, Evidence, Finding, Inspection
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.rules import RuleViolation


class Status(StrEnum):
    OPEN = "open"
    READY = "ready"
    OVERDUE = "overdue"
    VERIFIED = "verified"


class Escalation(StrEnum):
    NONE = "none"
    GRID_WORKER = "grid_worker"
    DEPARTMENT = "department"


class InvalidTransition(Exception):
    """A step the case's state does not allow (the API answers 409)."""


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class ScheduledReinspection:
    """The re-inspection planned for a case: for when, by whom and when it was planned."""

    scheduled_for: datetime
    scheduled_by: str
    scheduled_at: datetime
    inspector_id: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Rectification:
    id: uuid.UUID
    inspection_id: uuid.UUID
    subject_id: uuid.UUID
    subject_kind: SubjectKind
    checklist: str
    target_kind: str | None
    target_id: str | None
    grid_id: str | None
    community_id: str | None
    severity: Severity
    comply_by: datetime
    failed_findings: tuple[Finding, ...]
    requested_at: datetime
    status: Status = Status.OPEN
    ready_at: datetime | None = None
    overdue_since: datetime | None = None
    escalation: Escalation = Escalation.NONE
    escalated_at: datetime | None = None
    verified_at: datetime | None = None
    reinspection_id: uuid.UUID | None = None
    on_time: bool | None = None
    scheduled_reinspection: ScheduledReinspection | None = None

    @property
    def closed(self) -> bool:
        return self.status is Status.VERIFIED


def request(inspection: Inspection, now: datetime) -> tuple[Rectification, TimelineEntry]:
    """The case a failed inspection opens."""
    if inspection.severity is None or inspection.comply_by is None:
        raise InvalidTransition(f"inspection {inspection.id} passed: it opens no rectification")
    case = Rectification(
        id=uuid.uuid5(inspection.id, "rectification"),
        inspection_id=inspection.id,
        subject_id=inspection.subject_id,
        subject_kind=inspection.subject_kind,
        checklist=inspection.checklist,
        target_kind=inspection.target_kind,
        target_id=inspection.target_id,
        grid_id=inspection.grid_id,
        community_id=inspection.community_id,
        severity=inspection.severity,
        comply_by=inspection.comply_by,
        failed_findings=inspection.failed_findings,
        requested_at=now,
    )
    return case, TimelineEntry(
        now,
        "requested",
        {
            "inspection_id": str(inspection.id),
            "severity": case.severity.value,
            "comply_by": case.comply_by.isoformat(),
            "items": [f.item for f in case.failed_findings],
        },
    )


def report_ready(
    case: Rectification,
    *,
    reported_by: str,
    now: datetime,
    note: str | None = None,
    evidence: tuple[Evidence, ...] = (),
) -> tuple[Rectification, TimelineEntry]:
    """The responsible party (or staff for it) reports the fix done, optionally saying what was
    done and showing it with photos: the timeline keeps both with the report."""
    if case.status is Status.VERIFIED:
        raise InvalidTransition("the rectification is already verified")
    if case.status is Status.READY:
        raise InvalidTransition("the rectification was already reported ready")
    detail: dict[str, Any] = {"reported_by": reported_by, "on_time": now <= case.comply_by}
    if note:
        detail["note"] = note
    if evidence:
        detail["evidence"] = [
            {
                "photo_ref": e.photo_ref,
                "sha256": e.sha256.lower(),
                "latitude": e.latitude,
                "longitude": e.longitude,
                "taken_at": e.taken_at.isoformat() if e.taken_at else None,
            }
            for e in evidence
        ]
    return replace(case, status=Status.READY, ready_at=now), TimelineEntry(now, "ready", detail)


def schedule_reinspection(
    case: Rectification,
    *,
    scheduled_for: datetime,
    scheduled_by: str,
    now: datetime,
    inspector_id: str | None = None,
    note: str | None = None,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> tuple[Rectification, TimelineEntry]:
    """Plan (or re-plan) the case's re-inspection; a verified case needs none.

    `clock_skew`: how far in the past `scheduled_for` may be (a form filled in a minute ago).
    """
    if case.status is Status.VERIFIED:
        raise InvalidTransition("the rectification is already verified")
    if scheduled_for.tzinfo is None:
        raise RuleViolation("scheduled_for", "a time with its UTC offset")
    if scheduled_for < now - clock_skew:
        raise RuleViolation("scheduled_for", "a re-inspection is scheduled for a time to come")
    planned = ScheduledReinspection(
        scheduled_for=scheduled_for,
        scheduled_by=scheduled_by,
        scheduled_at=now,
        inspector_id=inspector_id or None,
        note=note or None,
    )
    detail: dict[str, Any] = {
        "scheduled_for": scheduled_for.isoformat(),
        "scheduled_by": scheduled_by,
        "inspector_id": planned.inspector_id,
        "note": planned.note,
    }
    if case.scheduled_reinspection is not None:
        detail["replaces"] = case.scheduled_reinspection.scheduled_for.isoformat()
    return replace(case, scheduled_reinspection=planned), TimelineEntry(
        now, "reinspection_scheduled", detail
    )


def reinspect(
    case: Rectification, reinspection: Inspection, now: datetime
) -> tuple[Rectification, TimelineEntry]:
    """A re-inspection verifies the fix when it passes; a failed one leaves the case open."""
    if case.status is Status.VERIFIED:
        raise InvalidTransition("the rectification is already verified")
    at = reinspection.inspected_at
    if reinspection.failed_findings:
        status = Status.OVERDUE if case.overdue_since is not None else Status.OPEN
        return replace(
            case, status=status, ready_at=None, scheduled_reinspection=None
        ), TimelineEntry(
            now,
            "reinspection_failed",
            {
                "reinspection_id": str(reinspection.id),
                "inspected_at": at.isoformat(),
                "items": [f.item for f in reinspection.failed_findings],
            },
        )
    done_at = case.ready_at or at
    on_time = done_at <= case.comply_by
    verified = replace(
        case,
        status=Status.VERIFIED,
        verified_at=at,
        reinspection_id=reinspection.id,
        on_time=on_time,
        scheduled_reinspection=None,
    )
    return verified, TimelineEntry(
        now,
        "verified",
        {
            "reinspection_id": str(reinspection.id),
            "inspected_at": at.isoformat(),
            "on_time": on_time,
        },
    )


def mark_overdue(case: Rectification, now: datetime) -> tuple[Rectification, TimelineEntry] | None:
    """Past its deadline and neither fixed nor reported fixed: overdue."""
    if case.status is not Status.OPEN or now <= case.comply_by:
        return None
    return replace(case, status=Status.OVERDUE, overdue_since=case.comply_by), TimelineEntry(
        now, "overdue", {"comply_by": case.comply_by.isoformat()}
    )


def escalate(
    case: Rectification, now: datetime, department_after: timedelta, department: str
) -> tuple[Rectification, TimelineEntry] | None:
    """Overdue goes to the grid worker at once; still overdue after a while, to the department."""
    if case.status is not Status.OVERDUE or case.overdue_since is None:
        return None
    if case.escalation is Escalation.NONE:
        level = Escalation.GRID_WORKER
        detail: dict[str, Any] = {"level": level.value, "grid_id": case.grid_id}
    elif case.escalation is Escalation.GRID_WORKER and now >= case.overdue_since + department_after:
        level = Escalation.DEPARTMENT
        detail = {"level": level.value, "department": department}
    else:
        return None
    return replace(case, escalation=level, escalated_at=now), TimelineEntry(
        now, "escalated", detail
    )
