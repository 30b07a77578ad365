"""Inspection use cases: record one inspection and announce its outcome."""

from __future__ import annotations

import uuid
from datetime import datetime

from linli_inspections.adapters.repository import InspectionRepository
from linli_inspections.domain import inspection as rules
from linli_inspections.domain.inspection import Finding, Inspection
from linli_shared.clock import Clock
from linli_shared.contracts.base import EventData
from linli_shared.contracts.common import SubjectKind
from linli_shared.contracts.inspections import FailedFindingV1, InspectionFailed, InspectionPassed
from linli_shared.db import Database
from linli_shared.errors import Conflict, NotFound
from linli_shared.messaging.outbox import Outbox


class InspectionsService:
    def __init__(self, database: Database, outbox: Outbox, clock: Clock) -> None:
        self._database = database
        self._outbox = outbox
        self._clock = clock

    async def record_inspection(
        self,
        *,
        inspection_id: uuid.UUID | None = None,
        subject_id: uuid.UUID,
        subject_kind: SubjectKind,
        checklist: str,
        inspector_id: str,
        inspected_at: datetime | None,
        findings: list[Finding],
    ) -> tuple[Inspection, bool]:
        """Record an inspection; with a client-chosen id, sending it again records it once.

        Returns the inspection and whether it was newly recorded.
        """
        now = self._clock.now()
        inspection = rules.record(
            inspection_id=inspection_id,
            subject_id=subject_id,
            subject_kind=subject_kind,
            checklist=checklist,
            inspector_id=inspector_id,
            inspected_at=inspected_at or now,
            findings=findings,
            now=now,
        )
        async with self._database.transaction() as connection:
            repository = InspectionRepository(connection)
            existing = await repository.get(inspection.id, for_update=True)
            if existing is not None:
                if not existing.same_record_as(inspection):
                    raise Conflict(f"inspection {inspection.id} was recorded with other content")
                return existing, False
            await repository.add(inspection)
            await self._outbox.add(connection, outcome_event(inspection))
        return inspection, True

    async def get_inspection(self, inspection_id: uuid.UUID) -> Inspection:
        async with self._database.connect() as connection:
            inspection = await InspectionRepository(connection).get(inspection_id)
        if inspection is None:
            raise NotFound("inspection", inspection_id)
        return inspection


def outcome_event(inspection: Inspection) -> EventData:
    if inspection.severity is None or inspection.comply_by is None:
        return InspectionPassed(
            inspection_id=inspection.id,
            subject_id=inspection.subject_id,
            subject_kind=inspection.subject_kind,
            checklist=inspection.checklist,
            inspected_at=inspection.inspected_at,
        )
    return InspectionFailed(
        inspection_id=inspection.id,
        subject_id=inspection.subject_id,
        subject_kind=inspection.subject_kind,
        checklist=inspection.checklist,
        inspected_at=inspection.inspected_at,
        severity=inspection.severity,
        failed_findings=[
            FailedFindingV1(item=f.item, severity=f.severity, note=f.note)
            for f in inspection.failed_findings
        ],
        comply_by=inspection.comply_by,
    )
