"""Events published by inspections on `linli.inspections.v1`, keyed by the responsible party.

The responsible party (`subject_id`, `subject_kind`) is who gets notices and whose integrity
record changes: the household itself, the property manager of a compound, the shop of a
frontage segment.
"""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field

from linli_shared.contracts import topics
from linli_shared.contracts.base import TOLERANT, EventData
from linli_shared.contracts.common import Severity, SubjectKind

TargetKind = Literal["household", "compound", "frontage_segment", "pest_point"]


# Locale (BCP 47, e.g. "zh-CN", "en") -> the text in that language.
Titles = dict[str, str]


class JointlySealedV1(BaseModel):
    """Values sealed under the joint key of several subjects (`linli_shared.crypto.joint_key` of
    their keys, in the order listed) and bound to the first one's id (`Sealer`): they open only
    while the registry still holds every listed subject's key."""

    model_config = TOLERANT

    subjects: list[UUID] = Field(min_length=1)
    sealed: str


class FailedFindingV1(BaseModel):
    model_config = TOLERANT

    item: str
    severity: Severity
    # The inspector's note, free text that may name a member: since sealed notes (#21) it travels
    # only sealed (`note` is None), bound to the inspection's subject (the household, or the
    # organisation; `linli_shared.crypto.Sealer`, values {"note": ...}), and not at all once a
    # key it needs is destroyed (crypto-shredding, docs/privacy.md).
    note: str | None = None
    # The item's text per language, from the checklist version the inspection was recorded
    # against (added in 1.1; absent in older events and for items not on a checklist).
    title: Titles | None = None
    # Events written before jointly sealed notes: the note under the subject's key alone.
    note_sealed: str | None = None
    # Since jointly sealed notes (#21) the note travels here instead (`note_sealed` is None):
    # under the joint key of the subject and each member of the household when it was recorded
    # (`subjects`: the subject first), so erasing any one member shreds every note that could name
    # her. Readers that do not know the field see no note.
    note_sealed_jointly: JointlySealedV1 | None = None


class _AboutAnInspection(EventData):
    topic: ClassVar[str] = topics.INSPECTIONS
    key_field: ClassVar[str] = "subject_id"

    inspection_id: UUID
    subject_id: UUID
    subject_kind: SubjectKind
    checklist: str
    inspected_at: AwareDatetime
    target_kind: TargetKind = "household"
    target_id: str | None = None
    grid_id: str | None = None
    community_id: str | None = None


class InspectionRecorded(_AboutAnInspection):
    """Any inspection was recorded (before its outcome is announced)."""

    event_type: ClassVar[str] = "linli.inspections.inspection.recorded.v1"

    outcome: Literal["passed", "failed"]
    schedule_id: UUID | None = None
    is_reinspection: bool = False


class InspectionPassed(_AboutAnInspection):
    event_type: ClassVar[str] = "linli.inspections.inspection.passed.v1"


class InspectionFailed(_AboutAnInspection):
    event_type: ClassVar[str] = "linli.inspections.inspection.failed.v1"

    severity: Severity
    failed_findings: list[FailedFindingV1]
    comply_by: AwareDatetime
    # The checklist's title per language, from its version (added in 1.1; may be absent).
    checklist_title: Titles | None = None


class _AboutARectification(EventData):
    topic: ClassVar[str] = topics.INSPECTIONS
    key_field: ClassVar[str] = "subject_id"

    rectification_id: UUID
    inspection_id: UUID
    subject_id: UUID
    subject_kind: SubjectKind
    severity: Severity
    comply_by: AwareDatetime
    grid_id: str | None = None
    community_id: str | None = None


class RectificationRequested(_AboutARectification):
    event_type: ClassVar[str] = "linli.inspections.rectification.requested.v1"

    failed_findings: list[FailedFindingV1]


class RectificationReady(_AboutARectification):
    """The responsible party reports the fix done: re-inspection is due."""

    event_type: ClassVar[str] = "linli.inspections.rectification.ready.v1"

    reported_at: AwareDatetime


class RectificationReinspectionScheduled(_AboutARectification):
    """The case's re-inspection is planned (or re-planned: the latest one stands).

    Added after 1.0.0. Carries no free-text note (it may quote a name or an address)."""

    event_type: ClassVar[str] = "linli.inspections.rectification.reinspection-scheduled.v1"

    scheduled_for: AwareDatetime
    scheduled_at: AwareDatetime
    inspector_id: str | None = None


class RectificationNotified(_AboutARectification):
    """The responsible party was told of the case (its rectification notice was delivered).

    Added after 1.0.0. `comply_by` is the deadline from now on: under the `notified` clock it
    counts from `notified_at` (never earlier than from the upload); `comply_by_before` is the
    provisional one it replaced (the same when the clock did not move it)."""

    event_type: ClassVar[str] = "linli.inspections.rectification.notified.v1"

    notified_at: AwareDatetime
    channel: str
    comply_by_before: AwareDatetime


class RectificationVerified(_AboutARectification):
    """A re-inspection found the fix done; `on_time` decides reward or further penalty."""

    event_type: ClassVar[str] = "linli.inspections.rectification.verified.v1"

    reinspection_id: UUID
    verified_at: AwareDatetime
    on_time: bool


class RectificationOverdue(_AboutARectification):
    event_type: ClassVar[str] = "linli.inspections.rectification.overdue.v1"

    overdue_since: AwareDatetime


class InspectionEscalated(_AboutARectification):
    """What the office cannot solve goes up: first to the grid worker, then the department."""

    event_type: ClassVar[str] = "linli.inspections.inspection.escalated.v1"

    level: Literal["grid_worker", "department"]
    department: str | None = None
    escalated_at: AwareDatetime


class ScheduleMissed(EventData):
    """A planned inspection did not happen in its week (e.g. a compound's twice-a-week)."""

    event_type: ClassVar[str] = "linli.inspections.schedule.missed.v1"
    topic: ClassVar[str] = topics.INSPECTIONS
    key_field: ClassVar[str] = "schedule_id"

    schedule_id: UUID
    target_kind: TargetKind
    target_id: str
    checklist: str
    grid_id: str | None = None
    community_id: str | None = None
    week_starting: AwareDatetime
    due: int
    done: int
