from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from linli_inspections.domain.inspection import Inspection
from linli_shared.contracts.common import Severity, SubjectKind


class FindingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: str = Field(min_length=1, max_length=200, examples=["no exposed garbage"])
    passed: bool
    severity: Severity = Severity.GENERAL
    note: str | None = Field(default=None, max_length=2000)


class InspectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID | None = Field(
        default=None,
        description="Client-generated id: sending the same inspection again records it once",
    )
    subject_id: uuid.UUID = Field(description="The household or organisation responsible")
    subject_kind: SubjectKind = SubjectKind.HOUSEHOLD
    checklist: str = Field(min_length=1, max_length=100, examples=["sanitation"])
    inspected_at: AwareDatetime | None = Field(default=None, description="Defaults to now")
    findings: list[FindingIn] = Field(min_length=1, max_length=100)


class FindingOut(BaseModel):
    item: str
    passed: bool
    severity: Severity
    note: str | None


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
                FindingOut(item=f.item, passed=f.passed, severity=f.severity, note=f.note)
                for f in inspection.findings
            ],
        )
