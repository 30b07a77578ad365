"""Partner-readable events from inspections, on `linli.partner.inspections.v1`.

Partner agencies (urban management, the health CDC) read these with Kafka users of their own.
They carry what a department acts on — which target failed which checklist items, in which grid
and community, by when it must be fixed, when the case went overdue, was escalated to the
department or was verified — and no personal data: no names, ID numbers, phones, e-mails or
addresses, and no inspectors' free-text notes (which may quote any of those). Targets are named
by kind and id only (a household target by its pseudonymous id). Inspections publishes each one
through its outbox in the same transaction as the internal event it mirrors.
"""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field

from linli_shared.contracts import topics
from linli_shared.contracts.base import TOLERANT, EventData
from linli_shared.contracts.common import Severity
from linli_shared.contracts.inspections import TargetKind


class PartnerFindingV1(BaseModel):
    """A failed checklist item: its code and severity, never the inspector's note."""

    model_config = TOLERANT

    item: str
    severity: Severity


class _PartnerEvent(EventData):
    topic: ClassVar[str] = topics.PARTNER_INSPECTIONS
    partner_readable: ClassVar[bool] = True

    target_kind: TargetKind
    target_id: str | None = None
    grid_id: str | None = None
    community_id: str | None = None
    checklist: str


class PartnerInspectionCompleted(_PartnerEvent):
    """An inspection's outcome (a first inspection or a re-inspection)."""

    event_type: ClassVar[str] = "linli.inspections.partner-inspection.completed.v1"
    key_field: ClassVar[str] = "inspection_id"

    inspection_id: UUID
    inspected_at: AwareDatetime
    outcome: Literal["passed", "failed"]
    is_reinspection: bool = False
    severity: Severity | None = None
    comply_by: AwareDatetime | None = None
    failed_findings: list[PartnerFindingV1] = Field(default_factory=list)


class _PartnerCaseEvent(_PartnerEvent):
    key_field: ClassVar[str] = "rectification_id"

    rectification_id: UUID
    inspection_id: UUID
    severity: Severity
    comply_by: AwareDatetime
    failed_findings: list[PartnerFindingV1] = Field(default_factory=list)


class PartnerRectificationOverdue(_PartnerCaseEvent):
    """The comply-by time passed without a verified fix."""

    event_type: ClassVar[str] = "linli.inspections.partner-rectification.overdue.v1"

    overdue_since: AwareDatetime


class PartnerRectificationEscalated(_PartnerCaseEvent):
    """The case is handed to a partner department: the case that department acts on."""

    event_type: ClassVar[str] = "linli.inspections.partner-rectification.escalated.v1"

    department: str
    escalated_at: AwareDatetime


class PartnerRectificationVerified(_PartnerCaseEvent):
    """A re-inspection found the fix done (on time or late): the case is closed."""

    event_type: ClassVar[str] = "linli.inspections.partner-rectification.verified.v1"

    reinspection_id: UUID
    verified_at: AwareDatetime
    on_time: bool


PARTNER_INSPECTION_EVENTS: tuple[type[EventData], ...] = (
    PartnerInspectionCompleted,
    PartnerRectificationOverdue,
    PartnerRectificationEscalated,
    PartnerRectificationVerified,
)
