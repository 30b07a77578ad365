"""Reading inspections and rectification cases, within the caller's reach: its grids, or the
cases and inspections of which it is the responsible party (a property manager's, a shop's)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from linli_inspections.adapters.repository import (
    InspectionRepository,
    PlaceReadModel,
    RectificationRepository,
)
from linli_inspections.domain.inspection import Inspection
from linli_inspections.domain.rectification import Rectification, Status, TimelineEntry
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.pagination import MAX_LIMIT, PageRequest, Slice
from linli_shared.reach import EVERYWHERE, Reach


@dataclass(frozen=True)
class DataCopy:
    """What inspections holds about a resident: the inspections of their household (of which it
    is the responsible party) and its rectification cases with their timelines."""

    resident_id: uuid.UUID
    household_id: uuid.UUID
    inspections: list[Inspection]
    cases: list[tuple[Rectification, list[TimelineEntry]]]


@dataclass(frozen=True)
class ReadsUseCases:
    _database: Database

    async def get_inspection(
        self, inspection_id: uuid.UUID, reach: Reach = EVERYWHERE
    ) -> Inspection:
        async with self._database.connect() as connection:
            inspection = await InspectionRepository(connection).get(inspection_id)
        if inspection is None or not reach.covers(inspection.grid_id, inspection.subject_id):
            raise NotFound("inspection", inspection_id)
        return inspection

    async def get_rectification(
        self, rectification_id: uuid.UUID, reach: Reach = EVERYWHERE
    ) -> tuple[Rectification, list[TimelineEntry]]:
        """The case with its timeline, and its inspection's evidence per failed finding (and its
        time, for a case opened before the case kept it)."""
        async with self._database.connect() as connection:
            repository = RectificationRepository(connection)
            case = await repository.get(rectification_id)
            if case is None or not reach.covers(case.grid_id, case.subject_id):
                raise NotFound("rectification", rectification_id)
            inspection = await InspectionRepository(connection).get(case.inspection_id)
            if inspection is not None:
                case = replace(
                    case,
                    failed_findings=inspection.failed_findings,
                    observed_at=case.observed_at or inspection.inspected_at,
                )
            return case, await repository.timeline(rectification_id)

    async def search_rectifications(
        self,
        *,
        status: Status | None,
        grid_id: str | None,
        subject_id: uuid.UUID | None,
        page: PageRequest,
        reach: Reach = EVERYWHERE,
    ) -> Slice[Rectification]:
        async with self._database.connect() as connection:
            return await RectificationRepository(connection).search(
                status=status,
                grid_id=grid_id,
                subject_id=subject_id,
                page=page,
                grids=reach.grids,
                parties=reach.parties,
            )

    async def data_copy(self, resident_id: uuid.UUID, reach: Reach = EVERYWHERE) -> DataCopy:
        """A copy of what inspections holds about the resident's household (the one the read
        model has them in). Only the resident themself reaches it (and admins); anyone else's
        is not found, a household member's included."""
        async with self._database.connect() as connection:
            household_id = await PlaceReadModel(connection).household_of(resident_id)
            if household_id is None or not reach.covers(None, resident_id):
                raise NotFound("resident", resident_id)
            inspections = InspectionRepository(connection)
            found = [await inspections.get(i) for i in await inspections.ids_about(household_id)]
            repository = RectificationRepository(connection)
            cases: list[Rectification] = []
            while True:
                page = await repository.search(
                    status=None,
                    grid_id=None,
                    subject_id=household_id,
                    page=PageRequest(limit=MAX_LIMIT, offset=len(cases)),
                )
                cases += page.items
                if not page.items or len(cases) >= page.total:
                    break
            timelines = [(case, await repository.timeline(case.id)) for case in cases]
        return DataCopy(resident_id, household_id, [i for i in found if i is not None], timelines)
