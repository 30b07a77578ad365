"""The events inspections announces, built field by field from the domain's objects.

Shared by the use cases that record inspections and run rectification cases; each event goes to
the outbox in the transaction of the change it announces. (The partner-safe twins: `partner`.)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from linli_inspections.domain.checklist import Checklist
from linli_inspections.domain.inspection import Finding, Inspection
from linli_inspections.domain.rectification import Rectification
from linli_inspections.service.notes import NoteSeal
from linli_shared.contracts.inspections import (
    FailedFindingV1,
    InspectionEscalated,
    InspectionFailed,
    InspectionPassed,
    InspectionRecorded,
    RectificationNotified,
    RectificationOverdue,
    RectificationReady,
    RectificationReinspectionScheduled,
    RectificationRequested,
    RectificationVerified,
)


class NotAnnounceable(ValueError):
    """The object lacks what its event must carry (a bug in the caller, never the client's)."""


def recorded(inspection: Inspection, schedule_id: uuid.UUID | None) -> InspectionRecorded:
    return InspectionRecorded(
        inspection_id=inspection.id,
        subject_id=inspection.subject_id,
        subject_kind=inspection.subject_kind,
        checklist=inspection.checklist,
        inspected_at=inspection.inspected_at,
        target_kind=inspection.target_kind or "household",
        target_id=inspection.target_id,
        grid_id=inspection.grid_id,
        community_id=inspection.community_id,
        outcome=inspection.outcome.value,
        schedule_id=schedule_id,
        is_reinspection=inspection.reinspection_of is not None,
    )


def outcome(
    inspection: Inspection, template: Checklist | None = None, notes: NoteSeal | None = None
) -> InspectionPassed | InspectionFailed:
    """`inspection.passed`, or `inspection.failed` with its findings in the template's words and
    their notes sealed (`notes`; without it they do not travel)."""
    if inspection.severity is None or inspection.comply_by is None:
        return InspectionPassed(
            inspection_id=inspection.id,
            subject_id=inspection.subject_id,
            subject_kind=inspection.subject_kind,
            checklist=inspection.checklist,
            inspected_at=inspection.inspected_at,
            target_kind=inspection.target_kind or "household",
            target_id=inspection.target_id,
            grid_id=inspection.grid_id,
            community_id=inspection.community_id,
        )
    return InspectionFailed(
        inspection_id=inspection.id,
        subject_id=inspection.subject_id,
        subject_kind=inspection.subject_kind,
        checklist=inspection.checklist,
        inspected_at=inspection.inspected_at,
        target_kind=inspection.target_kind or "household",
        target_id=inspection.target_id,
        grid_id=inspection.grid_id,
        community_id=inspection.community_id,
        severity=inspection.severity,
        failed_findings=failed_findings(inspection.failed_findings, template, notes),
        comply_by=inspection.comply_by,
        checklist_title=template.titles() if template is not None else None,
    )


def failed_findings(
    findings: Sequence[Finding], template: Checklist | None, notes: NoteSeal | None = None
) -> list[FailedFindingV1]:
    """The findings as events carry them, each with its item's text per language and its note
    sealed under the subject's and its members' keys, never in clear (`notes`; without it the
    note stays here)."""
    announced = []
    for finding in findings:
        item = template.item(finding.item) if template is not None else None
        announced.append(
            FailedFindingV1(
                item=finding.item,
                severity=finding.severity,
                note=None,
                title=item.titles() if item is not None else None,
                note_sealed_jointly=notes.seal(finding.note) if notes is not None else None,
            )
        )
    return announced


def requested(
    case: Rectification, template: Checklist | None, notes: NoteSeal | None = None
) -> RectificationRequested:
    return RectificationRequested(
        rectification_id=case.id,
        inspection_id=case.inspection_id,
        subject_id=case.subject_id,
        subject_kind=case.subject_kind,
        severity=case.severity,
        comply_by=case.comply_by,
        grid_id=case.grid_id,
        community_id=case.community_id,
        failed_findings=failed_findings(case.failed_findings, template, notes),
    )


def ready(case: Rectification, reported_at: datetime) -> RectificationReady:
    return RectificationReady(
        rectification_id=case.id,
        inspection_id=case.inspection_id,
        subject_id=case.subject_id,
        subject_kind=case.subject_kind,
        severity=case.severity,
        comply_by=case.comply_by,
        grid_id=case.grid_id,
        community_id=case.community_id,
        reported_at=reported_at,
    )


def notified(
    case: Rectification, comply_by_before: datetime, channel: str
) -> RectificationNotified:
    """The responsible party was told; `case.comply_by` is the deadline from now on."""
    if case.notified_at is None:
        raise NotAnnounceable(f"rectification {case.id} was not notified")
    return RectificationNotified(
        rectification_id=case.id,
        inspection_id=case.inspection_id,
        subject_id=case.subject_id,
        subject_kind=case.subject_kind,
        severity=case.severity,
        comply_by=case.comply_by,
        grid_id=case.grid_id,
        community_id=case.community_id,
        notified_at=case.notified_at,
        channel=channel,
        comply_by_before=comply_by_before,
    )


def reinspection_scheduled(case: Rectification) -> RectificationReinspectionScheduled:
    planned = case.scheduled_reinspection
    if planned is None:
        raise NotAnnounceable(f"rectification {case.id} has no re-inspection scheduled")
    return RectificationReinspectionScheduled(
        rectification_id=case.id,
        inspection_id=case.inspection_id,
        subject_id=case.subject_id,
        subject_kind=case.subject_kind,
        severity=case.severity,
        comply_by=case.comply_by,
        grid_id=case.grid_id,
        community_id=case.community_id,
        scheduled_for=planned.scheduled_for,
        scheduled_at=planned.scheduled_at,
        inspector_id=planned.inspector_id,
    )


def verified(case: Rectification) -> RectificationVerified:
    if case.reinspection_id is None or case.verified_at is None or case.on_time is None:
        raise NotAnnounceable(f"rectification {case.id} is not verified")
    return RectificationVerified(
        rectification_id=case.id,
        inspection_id=case.inspection_id,
        subject_id=case.subject_id,
        subject_kind=case.subject_kind,
        severity=case.severity,
        comply_by=case.comply_by,
        grid_id=case.grid_id,
        community_id=case.community_id,
        reinspection_id=case.reinspection_id,
        verified_at=case.verified_at,
        on_time=case.on_time,
    )


def overdue(case: Rectification) -> RectificationOverdue:
    if case.overdue_since is None:
        raise NotAnnounceable(f"rectification {case.id} is not overdue")
    return RectificationOverdue(
        rectification_id=case.id,
        inspection_id=case.inspection_id,
        subject_id=case.subject_id,
        subject_kind=case.subject_kind,
        severity=case.severity,
        comply_by=case.comply_by,
        grid_id=case.grid_id,
        community_id=case.community_id,
        overdue_since=case.overdue_since,
    )


def escalated(case: Rectification, department: str | None, at: datetime) -> InspectionEscalated:
    """The case went up a level: to the grid worker, or to `department`."""
    return InspectionEscalated(
        rectification_id=case.id,
        inspection_id=case.inspection_id,
        subject_id=case.subject_id,
        subject_kind=case.subject_kind,
        severity=case.severity,
        comply_by=case.comply_by,
        grid_id=case.grid_id,
        community_id=case.community_id,
        level=case.escalation.value,
        department=department,
        escalated_at=at,
    )
