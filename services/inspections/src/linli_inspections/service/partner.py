"""What partner agencies read of inspections: the partner-safe twins of internal events.

Each maps a domain object onto a `linli.partner.inspections.v1` contract, keeping codes, grids,
times and severities and leaving out everything personal (the responsible party's id and the
inspector's notes included). The use cases add them to the outbox beside the internal event.
"""

from __future__ import annotations

from datetime import datetime

from linli_inspections.domain.inspection import Finding, Inspection
from linli_inspections.domain.rectification import Rectification
from linli_inspections.service.announcements import NotAnnounceable
from linli_shared.contracts.partner_inspections import (
    PartnerFindingV1,
    PartnerInspectionCompleted,
    PartnerRectificationEscalated,
    PartnerRectificationOverdue,
    PartnerRectificationVerified,
)


def _findings(findings: tuple[Finding, ...]) -> list[PartnerFindingV1]:
    return [PartnerFindingV1(item=f.item, severity=f.severity) for f in findings]


def inspection_completed(inspection: Inspection) -> PartnerInspectionCompleted:
    return PartnerInspectionCompleted(
        inspection_id=inspection.id,
        target_kind=inspection.target_kind or "household",
        target_id=inspection.target_id,
        grid_id=inspection.grid_id,
        community_id=inspection.community_id,
        checklist=inspection.checklist,
        inspected_at=inspection.inspected_at,
        outcome=inspection.outcome.value,
        is_reinspection=inspection.reinspection_of is not None,
        severity=inspection.severity,
        comply_by=inspection.comply_by,
        failed_findings=_findings(inspection.failed_findings),
    )


def rectification_overdue(case: Rectification) -> PartnerRectificationOverdue:
    if case.overdue_since is None:
        raise NotAnnounceable(f"rectification {case.id} is not overdue")
    return PartnerRectificationOverdue(
        rectification_id=case.id,
        inspection_id=case.inspection_id,
        target_kind=case.target_kind or "household",
        target_id=case.target_id,
        grid_id=case.grid_id,
        community_id=case.community_id,
        checklist=case.checklist,
        severity=case.severity,
        comply_by=case.comply_by,
        failed_findings=_findings(case.failed_findings),
        overdue_since=case.overdue_since,
    )


def rectification_escalated(
    case: Rectification, department: str, at: datetime
) -> PartnerRectificationEscalated:
    return PartnerRectificationEscalated(
        rectification_id=case.id,
        inspection_id=case.inspection_id,
        target_kind=case.target_kind or "household",
        target_id=case.target_id,
        grid_id=case.grid_id,
        community_id=case.community_id,
        checklist=case.checklist,
        severity=case.severity,
        comply_by=case.comply_by,
        failed_findings=_findings(case.failed_findings),
        department=department,
        escalated_at=at,
    )


def rectification_verified(case: Rectification) -> PartnerRectificationVerified:
    if case.reinspection_id is None or case.verified_at is None or case.on_time is None:
        raise NotAnnounceable(f"rectification {case.id} is not verified")
    return PartnerRectificationVerified(
        rectification_id=case.id,
        inspection_id=case.inspection_id,
        target_kind=case.target_kind or "household",
        target_id=case.target_id,
        grid_id=case.grid_id,
        community_id=case.community_id,
        checklist=case.checklist,
        severity=case.severity,
        comply_by=case.comply_by,
        failed_findings=_findings(case.failed_findings),
        reinspection_id=case.reinspection_id,
        verified_at=case.verified_at,
        on_time=case.on_time,
    )
