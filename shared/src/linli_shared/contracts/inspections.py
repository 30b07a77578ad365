"""Events published by inspections on `linli.inspections.v1`, keyed by the responsible party."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from linli_shared.contracts import topics
from linli_shared.contracts.base import EventData
from linli_shared.contracts.common import Severity, SubjectKind


class FailedFindingV1(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    item: str
    severity: Severity
    note: str | None = None


class InspectionPassed(EventData):
    event_type: ClassVar[str] = "linli.inspections.inspection.passed.v1"
    topic: ClassVar[str] = topics.INSPECTIONS
    key_field: ClassVar[str] = "subject_id"

    inspection_id: UUID
    subject_id: UUID
    subject_kind: SubjectKind
    checklist: str
    inspected_at: datetime


class InspectionFailed(EventData):
    event_type: ClassVar[str] = "linli.inspections.inspection.failed.v1"
    topic: ClassVar[str] = topics.INSPECTIONS
    key_field: ClassVar[str] = "subject_id"

    inspection_id: UUID
    subject_id: UUID
    subject_kind: SubjectKind
    checklist: str
    inspected_at: datetime
    severity: Severity
    failed_findings: list[FailedFindingV1]
    comply_by: datetime
