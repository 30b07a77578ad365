"""Inspections and their findings: the outcome and the comply-by date follow from the findings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.rules import RuleViolation

# Standard time to rectify a failed finding, by its severity.
COMPLY_WITHIN = {
    Severity.LIGHT: timedelta(days=7),
    Severity.GENERAL: timedelta(days=3),
    Severity.SERIOUS: timedelta(days=1),
}


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True)
class Finding:
    item: str
    passed: bool
    severity: Severity
    note: str | None = None


@dataclass(frozen=True)
class Inspection:
    id: uuid.UUID
    subject_id: uuid.UUID
    subject_kind: SubjectKind
    checklist: str
    inspector_id: str
    inspected_at: datetime
    findings: tuple[Finding, ...]

    def same_record_as(self, other: Inspection) -> bool:
        """Whether `other` is this inspection sent again (an offline client's retry)."""
        return (self.subject_id, self.subject_kind, self.checklist, self.findings) == (
            other.subject_id,
            other.subject_kind,
            other.checklist,
            other.findings,
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
        severity = self.severity
        return self.inspected_at + COMPLY_WITHIN[severity] if severity else None


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
) -> Inspection:
    if not findings:
        raise RuleViolation("findings", "an inspection records at least one finding")
    items = [finding.item for finding in findings]
    if len(set(items)) != len(items):
        raise RuleViolation("findings", "each checklist item is recorded once")
    if inspected_at > now + timedelta(minutes=5):
        raise RuleViolation("inspected_at", "an inspection cannot be recorded in the future")
    return Inspection(
        id=inspection_id or uuid.uuid4(),
        subject_id=subject_id,
        subject_kind=subject_kind,
        checklist=checklist,
        inspector_id=inspector_id,
        inspected_at=inspected_at,
        findings=tuple(findings),
    )
