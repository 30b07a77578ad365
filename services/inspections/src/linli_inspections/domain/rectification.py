"""Rectification cases: a failed inspection's fix, from request to verification or escalation.

    open ──report ready──▶ ready ──re-inspection passes──▶ verified
      │                      └──re-inspection fails──▶ open (same deadline)
      └──deadline passes──▶ overdue ──(report ready / re-inspection as above)
                              └── escalated: grid worker at once, the department after a while

`on_time` of a verification: the fix was reported (or, unreported, verified) by the deadline.
Every transition returns the case and the timeline entry that records it.

A case not yet verified may have its re-inspection scheduled (and rescheduled: the latest
schedule is the pending one, the timeline keeps each); recording the re-inspection clears it.

The fair clock. A case knows when its inspection was made (`observed_at`), when it reached the
platform (`requested_at`: the upload opens the case) and when its responsible party was told
(`notified_at`: the rectification notice's delivery). Its comply-by period runs by the clock the
policy chose when it opened (`comply_clock`):

- `notified` (the default): until the party is told, `comply_by` is provisional, upload + period,
  and the case is never overdue: nobody is late for what they were not told. The delivery
  re-bases it to max(upload, delivery) + period (so never earlier than upload + period). If the
  notice cannot be delivered at all (notify gave up), the provisional deadline stands and the
  case falls back to the `uploaded` clock: it can go overdue, which brings the grid worker.
- `uploaded`: upload + period, fixed; a delivery is only recorded.
- none (cases opened before the clock was kept): their deadline stands; a delivery is recorded.

A delivery to a verified case, or a second one, changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from linli_inspections.domain.inspection import (
    DEFAULT_CLOCK_SKEW,
    Evidence,
    Finding,
    Inspection,
    deadline,
)
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.rules import RuleViolation


class Status(StrEnum):
    OPEN = "open"
    READY = "ready"
    OVERDUE = "overdue"
    VERIFIED = "verified"


class ComplyClock(StrEnum):
    """When a case's comply-by period starts: the notice's delivery, or the upload."""

    NOTIFIED = "notified"
    UPLOADED = "uploaded"


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
    # The fair clock (module docstring); None on cases opened before it was kept.
    observed_at: datetime | None = None
    notified_at: datetime | None = None
    comply_clock: ComplyClock | None = None
    time_zone: str | None = None

    @property
    def closed(self) -> bool:
        return self.status is Status.VERIFIED

    @property
    def awaiting_notification(self) -> bool:
        """Its period waits for the responsible party to be told: not overdue before that."""
        return self.comply_clock is ComplyClock.NOTIFIED and self.notified_at is None


def request(
    inspection: Inspection, now: datetime, clock: ComplyClock = ComplyClock.NOTIFIED
) -> tuple[Rectification, TimelineEntry]:
    """The case a failed inspection opens, when it reaches the platform (its upload), with the
    provisional deadline from then."""
    if inspection.severity is None or inspection.comply_by is None:
        raise InvalidTransition(f"inspection {inspection.id} passed: it opens no rectification")
    received_at = inspection.received_at or now
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
        requested_at=received_at,
        observed_at=inspection.inspected_at,
        comply_clock=clock,
        time_zone=inspection.time_zone,
    )
    return case, TimelineEntry(
        received_at,
        "requested",
        {
            "inspection_id": str(inspection.id),
            "severity": case.severity.value,
            "comply_by": case.comply_by.isoformat(),
            "items": [f.item for f in case.failed_findings],
            "inspected_at": inspection.inspected_at.isoformat(),
            "received_at": received_at.isoformat(),
            "comply_clock": clock.value,
        },
    )


def notify(
    case: Rectification, *, notified_at: datetime, channel: str, notice_id: str
) -> tuple[Rectification, TimelineEntry] | None:
    """The responsible party was told (the rectification notice was delivered at `notified_at`).

    Recorded once, on a case not yet verified. Under the `notified` clock an open or ready case's
    deadline is re-based to max(upload, delivery) + period. None: nothing changes (verified, or
    told before).
    """
    if case.closed or case.notified_at is not None:
        return None
    comply_by = case.comply_by
    if case.awaiting_notification and case.status in (Status.OPEN, Status.READY):
        comply_by = deadline(max(case.requested_at, notified_at), case.severity, case.time_zone)
    detail: dict[str, Any] = {
        "notice_id": notice_id,
        "channel": channel,
        "notified_at": notified_at.isoformat(),
        "comply_by": comply_by.isoformat(),
    }
    if comply_by != case.comply_by:
        detail["comply_by_before"] = case.comply_by.isoformat()
    return replace(case, notified_at=notified_at, comply_by=comply_by), TimelineEntry(
        notified_at, "notified", detail
    )


def notice_failed(
    case: Rectification, *, failed_at: datetime, channel: str, notice_id: str
) -> tuple[Rectification, TimelineEntry] | None:
    """The rectification notice could not be delivered on any channel (notify gave up).

    A case still waiting for it keeps its provisional deadline as the deadline (the `uploaded`
    clock), so it can go overdue and reach the grid worker, who serves it by hand. None when the
    party was already told, or the case is verified.
    """
    if case.closed or case.notified_at is not None:
        return None
    changed = case
    if case.awaiting_notification:
        changed = replace(case, comply_clock=ComplyClock.UPLOADED)
    return changed, TimelineEntry(
        failed_at,
        "notice_failed",
        {
            "notice_id": notice_id,
            "channel": channel,
            "comply_by": case.comply_by.isoformat(),
            "comply_clock": changed.comply_clock.value if changed.comply_clock else None,
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
    """Past its deadline and neither fixed nor reported fixed: overdue; never while the
    responsible party has not been told (the `notified` clock)."""
    if case.status is not Status.OPEN or now <= case.comply_by or case.awaiting_notification:
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
