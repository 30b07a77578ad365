from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from linli_inspections.domain.checklist import Checklist, ChecklistItem
from linli_inspections.domain.evidence import Photo
from linli_inspections.domain.inspection import Evidence, Finding, Inspection
from linli_inspections.domain.pest import Measurement, Pest, PestPoint
from linli_inspections.domain.rectification import (
    ComplyClock,
    Rectification,
    ScheduledReinspection,
    TimelineEntry,
)
from linli_inspections.domain.schedule import Schedule, WeekCoverage
from linli_inspections.service.cases import ReadyReport, ReinspectionRequest
from linli_inspections.service.lookups import TargetRef
from linli_inspections.service.reads import DataCopy
from linli_inspections.service.recording import BatchResult, RecordRequest
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.pagination import Page

TargetKind = Literal["household", "compound", "frontage_segment", "pest_point"]


class EvidenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    photo_ref: str = Field(min_length=1, max_length=500, examples=["s3://evidence/2026/03/a.jpg"])
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 of the photo")
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    taken_at: AwareDatetime | None = None

    def evidence(self) -> Evidence:
        return Evidence(self.photo_ref, self.sha256, self.latitude, self.longitude, self.taken_at)


class PhotoOut(BaseModel):
    photo_ref: str = Field(
        description="What an inspection's evidence names as its `photo_ref`",
        examples=["linli:evidence/" + "ab" * 32],
    )
    sha256: str = Field(description="SHA-256 of the photo: its evidence's `sha256`")
    size: int
    content_type: str

    @classmethod
    def of(cls, photo: Photo) -> PhotoOut:
        return cls(
            photo_ref=photo.photo_ref,
            sha256=photo.sha256,
            size=photo.size,
            content_type=photo.content_type,
        )


class FindingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: str = Field(min_length=1, max_length=200, examples=["no exposed garbage"])
    passed: bool
    severity: Severity = Field(
        default=Severity.GENERAL,
        description="Defaults to the template item's severity (target form), else general",
    )
    note: str | None = Field(default=None, max_length=2000)
    evidence: list[EvidenceIn] = Field(default_factory=list, max_length=20)

    def finding(self) -> Finding:
        return Finding(
            item=self.item,
            passed=self.passed,
            severity=self.severity,
            note=self.note,
            evidence=tuple(e.evidence() for e in self.evidence),
        )


class TargetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: TargetKind
    id: str = Field(min_length=1, max_length=100)


class InspectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID | None = Field(
        default=None,
        description="Client-generated id: sending the same inspection again records it once",
    )
    subject_id: uuid.UUID | None = Field(
        default=None, description="The household or organisation responsible (subject form)"
    )
    subject_kind: SubjectKind = SubjectKind.HOUSEHOLD
    target: TargetIn | None = Field(
        default=None, description="What was inspected; the responsible party is resolved from it"
    )
    reinspection_of: uuid.UUID | None = Field(
        default=None, description="The rectification this re-inspection verifies"
    )
    checklist: str | None = Field(default=None, min_length=1, max_length=100)
    checklist_version: int | None = Field(default=None, ge=1)
    inspected_at: AwareDatetime | None = Field(
        default=None, description="When it was captured (offline: on the device); defaults to now"
    )
    findings: list[FindingIn] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_form(self) -> InspectionIn:
        forms = [self.subject_id is not None, self.target is not None]
        if sum(forms) > 1:
            raise ValueError("give subject_id or target, not both")
        if not any(forms) and self.reinspection_of is None:
            raise ValueError("give subject_id, target or reinspection_of")
        if self.checklist is None and self.reinspection_of is None:
            raise ValueError("checklist is required")
        return self

    def request(self, inspector_id: str) -> RecordRequest:
        return RecordRequest(
            inspector_id=inspector_id,
            findings=[f.finding() for f in self.findings],
            checklist=self.checklist,
            inspection_id=self.id,
            subject_id=self.subject_id,
            subject_kind=self.subject_kind,
            target=TargetRef(self.target.kind, self.target.id) if self.target else None,
            inspected_at=self.inspected_at,
            reinspection_of=self.reinspection_of,
            checklist_version=self.checklist_version,
            severity_given=["severity" in f.model_fields_set for f in self.findings],
        )


class OfflineInspectionIn(InspectionIn):
    id: uuid.UUID = Field(description="Client-generated id (required offline)")
    inspected_at: AwareDatetime = Field(description="Captured-at time on the device")


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inspections: list[OfflineInspectionIn] = Field(min_length=1, max_length=500)


class EvidenceOut(BaseModel):
    photo_ref: str
    sha256: str
    latitude: float | None
    longitude: float | None
    taken_at: datetime | None

    @classmethod
    def of(cls, evidence: Evidence) -> EvidenceOut:
        return cls(
            photo_ref=evidence.photo_ref,
            sha256=evidence.sha256,
            latitude=evidence.latitude,
            longitude=evidence.longitude,
            taken_at=evidence.taken_at,
        )


class FindingOut(BaseModel):
    item: str
    passed: bool
    severity: Severity
    note: str | None
    evidence: list[EvidenceOut] = Field(default_factory=list)


class InspectionOut(BaseModel):
    id: uuid.UUID
    subject_id: uuid.UUID
    subject_kind: SubjectKind
    checklist: str
    inspector_id: str
    inspected_at: datetime
    outcome: str
    severity: Severity | None
    comply_by: datetime | None
    findings: list[FindingOut]
    target_kind: str | None = None
    target_id: str | None = None
    grid_id: str | None = None
    reinspection_of: uuid.UUID | None = None

    @classmethod
    def of(cls, inspection: Inspection) -> InspectionOut:
        return cls(
            id=inspection.id,
            subject_id=inspection.subject_id,
            subject_kind=inspection.subject_kind,
            checklist=inspection.checklist,
            inspector_id=inspection.inspector_id,
            inspected_at=inspection.inspected_at,
            outcome=inspection.outcome.value,
            severity=inspection.severity,
            comply_by=inspection.comply_by,
            findings=[
                FindingOut(
                    item=f.item,
                    passed=f.passed,
                    severity=f.severity,
                    note=f.note,
                    evidence=[EvidenceOut.of(e) for e in f.evidence],
                )
                for f in inspection.findings
            ],
            target_kind=inspection.target_kind,
            target_id=inspection.target_id,
            grid_id=inspection.grid_id,
            reinspection_of=inspection.reinspection_of,
        )


class BatchItemOut(BaseModel):
    id: uuid.UUID
    status: Literal["recorded", "duplicate", "conflict", "invalid", "not_found", "forbidden"]
    inspection: InspectionOut | None = None
    errors: list[dict[str, str]] = Field(default_factory=list)

    @classmethod
    def of(cls, result: BatchResult) -> BatchItemOut:
        return cls(
            id=result.id,
            status=result.status,
            inspection=InspectionOut.of(result.inspection) if result.inspection else None,
            errors=result.errors,
        )


class BatchOut(BaseModel):
    results: list[BatchItemOut]
    recorded: int
    duplicates: int
    rejected: int


class TimelineOut(BaseModel):
    at: datetime
    kind: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: TimelineEntry) -> TimelineOut:
        return cls(at=entry.at, kind=entry.kind, detail=entry.detail)


class FailedFindingOut(BaseModel):
    item: str
    severity: Severity
    note: str | None
    evidence: list[EvidenceOut] | None = Field(
        default=None,
        description=(
            "The inspection's photos of this finding (content hash, place, time); in a case's "
            "own response, not in lists"
        ),
    )


class ReinspectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scheduled_for: AwareDatetime = Field(
        description="When the re-inspection is to happen, with its UTC offset; not in the past"
    )
    inspector_id: str | None = Field(
        default=None, max_length=200, description="Who is to re-inspect, if already decided"
    )
    note: str | None = Field(default=None, max_length=500)

    def request(self) -> ReinspectionRequest:
        return ReinspectionRequest(
            scheduled_for=self.scheduled_for,
            inspector_id=(self.inspector_id or "").strip() or None,
            note=(self.note or "").strip() or None,
        )


class ReadyIn(BaseModel):
    """What the responsible party says with its report of the fix (both optional)."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(
        default=None, max_length=1000, description="What was done", examples=["东门垃圾已清运"]
    )
    evidence: list[EvidenceIn] = Field(
        default_factory=list,
        max_length=20,
        description="Photos of the fix: upload each first (POST /v1/evidence) and name it here",
    )

    def request(self) -> ReadyReport:
        return ReadyReport(
            note=(self.note or "").strip() or None,
            evidence=tuple(e.evidence() for e in self.evidence),
        )


class ScheduledReinspectionOut(BaseModel):
    scheduled_for: datetime
    scheduled_by: str
    scheduled_at: datetime
    inspector_id: str | None
    note: str | None

    @classmethod
    def of(cls, planned: ScheduledReinspection) -> ScheduledReinspectionOut:
        return cls(
            scheduled_for=planned.scheduled_for,
            scheduled_by=planned.scheduled_by,
            scheduled_at=planned.scheduled_at,
            inspector_id=planned.inspector_id,
            note=planned.note,
        )


class RectificationOut(BaseModel):
    id: uuid.UUID
    inspection_id: uuid.UUID
    subject_id: uuid.UUID
    subject_kind: SubjectKind
    checklist: str
    target_kind: str | None
    target_id: str | None
    grid_id: str | None
    severity: Severity
    comply_by: datetime = Field(
        description=(
            "The deadline. Under the `notified` clock it is provisional (upload + the period) "
            "until `notified_at`, then counts from the notice's delivery"
        )
    )
    comply_clock: ComplyClock | None = Field(
        default=None,
        description=(
            "When the comply-by period starts: `notified` (the notice's delivery) or `uploaded`; "
            "null on cases opened before the clock was kept (their deadline counts from the "
            "inspection)"
        ),
    )
    status: str
    escalation: str
    observed_at: datetime | None = Field(
        default=None, description="When the inspection was made (the inspector's device time)"
    )
    requested_at: datetime = Field(
        description="When the inspection reached the platform (its upload), which opened the case"
    )
    notified_at: datetime | None = Field(
        default=None,
        description="When the rectification notice was delivered to the responsible party",
    )
    ready_at: datetime | None
    overdue_since: datetime | None
    verified_at: datetime | None
    on_time: bool | None
    reinspection_id: uuid.UUID | None
    scheduled_reinspection: ScheduledReinspectionOut | None = Field(
        default=None, description="The pending re-inspection; cleared when it is recorded"
    )
    failed_findings: list[FailedFindingOut]
    timeline: list[TimelineOut] | None = None

    @classmethod
    def of(
        cls, case: Rectification, timeline: list[TimelineEntry] | None = None
    ) -> RectificationOut:
        return cls(
            id=case.id,
            inspection_id=case.inspection_id,
            subject_id=case.subject_id,
            subject_kind=case.subject_kind,
            checklist=case.checklist,
            target_kind=case.target_kind,
            target_id=case.target_id,
            grid_id=case.grid_id,
            severity=case.severity,
            comply_by=case.comply_by,
            comply_clock=case.comply_clock,
            status=case.status.value,
            escalation=case.escalation.value,
            observed_at=case.observed_at,
            requested_at=case.requested_at,
            notified_at=case.notified_at,
            ready_at=case.ready_at,
            overdue_since=case.overdue_since,
            verified_at=case.verified_at,
            on_time=case.on_time,
            reinspection_id=case.reinspection_id,
            scheduled_reinspection=ScheduledReinspectionOut.of(case.scheduled_reinspection)
            if case.scheduled_reinspection is not None
            else None,
            failed_findings=[
                FailedFindingOut(
                    item=f.item,
                    severity=f.severity,
                    note=f.note,
                    evidence=[EvidenceOut.of(e) for e in f.evidence]
                    if timeline is not None
                    else None,
                )
                for f in case.failed_findings
            ],
            timeline=[TimelineOut.of(e) for e in timeline] if timeline is not None else None,
        )


RectificationPage = Page[RectificationOut]


class DataCopyOut(BaseModel):
    """What inspections holds about a resident's household, for the resident."""

    resident_id: uuid.UUID
    household_id: uuid.UUID
    inspections: list[InspectionOut] = Field(description="Of the household, oldest first")
    rectifications: list[RectificationOut] = Field(description="With their timelines")

    @classmethod
    def of(cls, copy: DataCopy) -> DataCopyOut:
        return cls(
            resident_id=copy.resident_id,
            household_id=copy.household_id,
            inspections=[InspectionOut.of(i) for i in copy.inspections],
            rectifications=[RectificationOut.of(c, timeline) for c, timeline in copy.cases],
        )


class ChecklistItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9-]+$")
    text: str = Field(min_length=1, max_length=200)
    severity: Severity

    def item(self) -> ChecklistItem:
        return ChecklistItem(self.code, self.text, self.severity)


class ChecklistIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    items: list[ChecklistItemIn] = Field(min_length=1, max_length=100)


class ChecklistItemOut(BaseModel):
    code: str
    text: str
    severity: Severity
    comply_within_hours: float


class ChecklistOut(BaseModel):
    name: str
    version: int
    title: str
    items: list[ChecklistItemOut]
    created_at: datetime | None

    @classmethod
    def of(cls, checklist: Checklist) -> ChecklistOut:
        return cls(
            name=checklist.name,
            version=checklist.version,
            title=checklist.title,
            items=[
                ChecklistItemOut(
                    code=i.code,
                    text=i.text,
                    severity=i.severity,
                    comply_within_hours=Checklist.comply_within(i.severity).total_seconds() / 3600,
                )
                for i in checklist.items
            ],
            created_at=checklist.created_at,
        )


ChecklistPage = Page[ChecklistOut]


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: TargetIn
    checklist: str = Field(min_length=1, max_length=100, examples=["sanitation"])
    times_per_week: int = Field(default=2, ge=1, le=21, description="The seed: at least twice")


class ScheduleOut(BaseModel):
    id: uuid.UUID
    target_kind: str
    target_id: str
    checklist: str
    times_per_week: int
    grid_id: str | None
    community_id: str | None
    created_at: datetime
    active: bool

    @classmethod
    def of(cls, schedule: Schedule) -> ScheduleOut:
        return cls(
            id=schedule.id,
            target_kind=schedule.target_kind,
            target_id=schedule.target_id,
            checklist=schedule.checklist,
            times_per_week=schedule.times_per_week,
            grid_id=schedule.grid_id,
            community_id=schedule.community_id,
            created_at=schedule.created_at,
            active=schedule.active,
        )


SchedulePage = Page[ScheduleOut]


class CoverageRowOut(BaseModel):
    schedule_id: uuid.UUID
    target_kind: str
    target_id: str
    checklist: str
    due: int
    done: int
    missed: int


class CoverageOut(BaseModel):
    grid_id: str
    week_starting: datetime
    week_over: bool
    due: int
    done: int
    missed: int
    rows: list[CoverageRowOut]

    @classmethod
    def of(cls, grid_id: str, week: datetime, over: bool, rows: list[WeekCoverage]) -> CoverageOut:
        out = [
            CoverageRowOut(
                schedule_id=r.schedule.id,
                target_kind=r.schedule.target_kind,
                target_id=r.schedule.target_id,
                checklist=r.schedule.checklist,
                due=r.due,
                done=r.done,
                missed=r.missed if over else 0,
            )
            for r in rows
        ]
        return cls(
            grid_id=grid_id,
            week_starting=week,
            week_over=over,
            due=sum(r.due for r in out),
            done=sum(r.done for r in out),
            missed=sum(r.missed for r in out),
            rows=out,
        )


class PestPointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
    community_id: str = Field(min_length=1, max_length=64)
    grid_id: str | None = Field(default=None, min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    location: str | None = Field(default=None, max_length=500)
    compound_id: str | None = Field(
        default=None, max_length=64, description="Its property manager answers for the point"
    )
    responsible_id: uuid.UUID | None = None
    responsible_kind: SubjectKind | None = None


class PestPointOut(BaseModel):
    id: str
    community_id: str
    grid_id: str | None
    name: str
    location: str | None
    compound_id: str | None
    responsible_id: uuid.UUID | None
    responsible_kind: str | None
    created_at: datetime

    @classmethod
    def of(cls, point: PestPoint) -> PestPointOut:
        return cls(
            id=point.id,
            community_id=point.community_id,
            grid_id=point.grid_id,
            name=point.name,
            location=point.location,
            compound_id=point.compound_id,
            responsible_id=point.responsible_id,
            responsible_kind=point.responsible_kind.value if point.responsible_kind else None,
            created_at=point.created_at,
        )


PestPointPage = Page[PestPointOut]


class ReadingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID | None = Field(default=None, description="Client id: resending records once")
    pest: Pest
    density: float = Field(ge=0, le=1_000_000)
    measured_at: AwareDatetime | None = None


class ReadingOut(BaseModel):
    id: uuid.UUID
    point_id: str
    pest: Pest
    density: float
    threshold: float
    over_threshold: bool
    measured_at: datetime
    inspection_id: uuid.UUID | None

    @classmethod
    def of(cls, measurement: Measurement) -> ReadingOut:
        return cls(
            id=measurement.id,
            point_id=measurement.point_id,
            pest=measurement.pest,
            density=measurement.density,
            threshold=measurement.threshold,
            over_threshold=measurement.over,
            measured_at=measurement.measured_at,
            inspection_id=measurement.inspection_id,
        )


ReadingPage = Page[ReadingOut]
