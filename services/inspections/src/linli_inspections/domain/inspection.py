"""Inspections and their findings: the outcome and the comply-by date follow from the findings.

Three times matter: when the inspector looked (`inspected_at`, the device's time, which for an
offline upload may be days back), when the inspection reached the platform (`received_at`) and,
for a failed one, when its responsible party was told (the case's `notified_at`). The comply-by
period never runs from the first: an inspection uploaded days later does not arrive overdue.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.rules import RuleViolation

# Standard time to rectify a failed finding, by its severity.
COMPLY_WITHIN = {
    Severity.LIGHT: timedelta(days=7),
    Severity.GENERAL: timedelta(days=3),
    Severity.SERIOUS: timedelta(days=1),
}


_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True)
class Evidence:
    """A photo taken on the spot: where it is stored, its content hash, where and when."""

    photo_ref: str
    sha256: str
    latitude: float | None = None
    longitude: float | None = None
    taken_at: datetime | None = None


@dataclass(frozen=True)
class Finding:
    item: str
    passed: bool
    severity: Severity
    note: str | None = None
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class Target:
    """What was inspected, and who answers for it (the responsible party)."""

    kind: str  # household | compound | frontage_segment | pest_point
    id: str
    subject_id: uuid.UUID
    subject_kind: SubjectKind
    grid_id: str | None = None
    community_id: str | None = None


@dataclass(frozen=True)
class Inspection:
    id: uuid.UUID
    subject_id: uuid.UUID
    subject_kind: SubjectKind
    checklist: str
    inspector_id: str
    inspected_at: datetime
    findings: tuple[Finding, ...]
    target_kind: str | None = None
    target_id: str | None = None
    grid_id: str | None = None
    community_id: str | None = None
    reinspection_of: uuid.UUID | None = None
    # The community's time zone: comply-by days are local days (None: plain 24-hour days).
    time_zone: str | None = None
    # When it reached the platform (the upload); None for inspections stored before it was kept.
    received_at: datetime | None = None
    # The deadline as it was recorded (read back from storage): an inspection recorded before
    # the fair clock keeps the one it was announced with, counted from its own time.
    recorded_comply_by: datetime | None = field(default=None, compare=False)

    def same_record_as(self, other: Inspection) -> bool:
        """Whether `other` is this inspection sent again (an offline client's retry)."""
        return (
            self.subject_id,
            self.subject_kind,
            self.checklist,
            self.findings,
            self.target_kind,
            self.target_id,
            self.reinspection_of,
        ) == (
            other.subject_id,
            other.subject_kind,
            other.checklist,
            other.findings,
            other.target_kind,
            other.target_id,
            other.reinspection_of,
        )

    @property
    def failed_findings(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if not finding.passed)

    @property
    def outcome(self) -> Outcome:
        return Outcome.FAILED if self.failed_findings else Outcome.PASSED

    @property
    def severity(self) -> Severity | None:
        """The worst severity among failed findings; None when the inspection passed."""
        failed = self.failed_findings
        return max((f.severity for f in failed), key=lambda s: s.rank) if failed else None

    @property
    def comply_by(self) -> datetime | None:
        """The provisional deadline: the standard window from the upload (`received_at`), never
        from the inspector's own time, so an offline upload has its whole period. Its case moves
        it to the notice's delivery (`rectification.notify`)."""
        severity = self.severity
        if severity is None:
            return None
        if self.recorded_comply_by is not None:
            return self.recorded_comply_by
        return deadline(self.received_at or self.inspected_at, severity, self.time_zone)


def deadline(start: datetime, severity: Severity, time_zone: str | None) -> datetime:
    """The standard window to rectify a failed finding of `severity`, counted from `start` in
    local days of `time_zone`."""
    return local_days_after(start, COMPLY_WITHIN[severity], time_zone)


def local_days_after(start: datetime, days: timedelta, time_zone: str | None) -> datetime:
    """The same local time `days` later in `time_zone` (across a daylight-saving change a local
    day is 23 or 25 hours), as UTC."""
    if time_zone is None:
        return start + days
    return (start.astimezone(ZoneInfo(time_zone)) + days).astimezone(UTC)


# How far ahead of the server's clock a device's clock may run (see InspectionsSettings).
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)


def record(
    *,
    inspection_id: uuid.UUID | None = None,
    subject_id: uuid.UUID,
    subject_kind: SubjectKind,
    checklist: str,
    inspector_id: str,
    inspected_at: datetime,
    findings: list[Finding],
    now: datetime,
    target: Target | None = None,
    reinspection_of: uuid.UUID | None = None,
    time_zone: str | None = None,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> Inspection:
    """`clock_skew`: how far ahead of `now` a device's clock may be (inspection and photo
    times); anything later is refused, not kept as if it had happened."""
    if not findings:
        raise RuleViolation("findings", "an inspection records at least one finding")
    items = [finding.item for finding in findings]
    if len(set(items)) != len(items):
        raise RuleViolation("findings", "each checklist item is recorded once")
    if inspected_at > now + clock_skew:
        raise RuleViolation("inspected_at", "an inspection cannot be recorded in the future")
    for i, finding in enumerate(findings):
        for j, evidence in enumerate(finding.evidence):
            if not _SHA256.match(evidence.sha256):
                raise RuleViolation(
                    f"findings.{i}.evidence.{j}.sha256", "a content hash is 64 hex digits (SHA-256)"
                )
            if evidence.taken_at is not None and evidence.taken_at > now + clock_skew:
                raise RuleViolation(
                    f"findings.{i}.evidence.{j}.taken_at",
                    f"a photo cannot be taken in the future (more than {clock_skew} ahead)",
                )
    if target is not None and (subject_id, subject_kind) != (
        target.subject_id,
        target.subject_kind,
    ):
        raise RuleViolation("subject_id", "the subject is the target's responsible party")
    return Inspection(
        id=inspection_id or uuid.uuid4(),
        subject_id=subject_id,
        subject_kind=subject_kind,
        checklist=checklist,
        inspector_id=inspector_id,
        inspected_at=inspected_at,
        findings=tuple(
            replace(f, evidence=tuple(replace(e, sha256=e.sha256.lower()) for e in f.evidence))
            for f in findings
        ),
        target_kind=target.kind if target else None,
        target_id=target.id if target else None,
        grid_id=target.grid_id if target else None,
        community_id=target.community_id if target else None,
        reinspection_of=reinspection_of,
        time_zone=time_zone,
        received_at=now,
    )
