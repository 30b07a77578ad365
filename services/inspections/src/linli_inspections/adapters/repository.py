from __future__ import annotations

import uuid

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_inspections.adapters.tables import findings, inspections
from linli_inspections.domain.inspection import Finding, Inspection
from linli_shared.contracts.common import Severity, SubjectKind


class InspectionRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, inspection: Inspection) -> None:
        await self._connection.execute(
            insert(inspections).values(
                id=inspection.id,
                subject_id=inspection.subject_id,
                subject_kind=inspection.subject_kind.value,
                checklist=inspection.checklist,
                inspector_id=inspection.inspector_id,
                inspected_at=inspection.inspected_at,
                outcome=inspection.outcome.value,
                severity=inspection.severity.value if inspection.severity else None,
                comply_by=inspection.comply_by,
            )
        )
        await self._connection.execute(
            insert(findings),
            [
                {
                    "inspection_id": inspection.id,
                    "position": i,
                    "item": f.item,
                    "passed": f.passed,
                    "severity": f.severity.value,
                    "note": f.note,
                }
                for i, f in enumerate(inspection.findings)
            ],
        )

    async def get(self, inspection_id: uuid.UUID, *, for_update: bool = False) -> Inspection | None:
        query = select(inspections).where(inspections.c.id == inspection_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).one_or_none()
        if row is None:
            return None
        finding_rows = await self._connection.execute(
            select(findings)
            .where(findings.c.inspection_id == inspection_id)
            .order_by(findings.c.position)
        )
        return Inspection(
            id=row.id,
            subject_id=row.subject_id,
            subject_kind=SubjectKind(row.subject_kind),
            checklist=row.checklist,
            inspector_id=row.inspector_id,
            inspected_at=row.inspected_at,
            findings=tuple(
                Finding(item=f.item, passed=f.passed, severity=Severity(f.severity), note=f.note)
                for f in finding_rows
            ),
        )
