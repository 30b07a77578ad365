"""Pest monitoring: the points this service owns and their density readings. A reading over its
threshold is recorded as a failed pest-control inspection of its point (once per reading)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from linli_inspections.adapters.repository import TargetRepository
from linli_inspections.domain import pest as pest_rules
from linli_inspections.domain.inspection import Inspection
from linli_inspections.domain.pest import Measurement, PestPoint
from linli_inspections.service.lookups import TargetRef, known_subject
from linli_inspections.service.reads import ReadsUseCases
from linli_inspections.service.recording import RecordingUseCases, RecordRequest
from linli_shared.clock import Clock
from linli_shared.contracts.common import SubjectKind
from linli_shared.db import Database
from linli_shared.errors import Conflict, NotFound
from linli_shared.pagination import PageRequest, Slice
from linli_shared.reach import EVERYWHERE, OutsideGrids, Reach
from linli_shared.rules import RuleViolation

# How far ahead of the server's clock a reading's time may be.
READING_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class PestsUseCases:
    _database: Database
    _clock: Clock
    _recording: RecordingUseCases
    _reads: ReadsUseCases

    async def add_pest_point(
        self,
        *,
        id: str,
        community_id: str,
        grid_id: str | None,
        name: str,
        location: str | None,
        compound_id: str | None,
        responsible_id: uuid.UUID | None,
        responsible_kind: SubjectKind | None,
        reach: Reach = EVERYWHERE,
    ) -> PestPoint:
        if not reach.covers(grid_id):
            raise OutsideGrids("grid_id", grid_id)
        if responsible_id is None and compound_id is None:
            raise RuleViolation(
                "responsible_id", "name the responsible party or the compound the point is in"
            )
        now = self._clock.now()
        async with self._database.transaction() as connection:
            if responsible_id is not None:  # a party the registry announced, as for inspections
                try:
                    await known_subject(
                        connection, responsible_id, responsible_kind or SubjectKind.ORGANISATION
                    )
                except RuleViolation as unknown:
                    raise RuleViolation("responsible_id", unknown.message) from unknown
            point = PestPoint(
                id=id,
                community_id=community_id,
                grid_id=grid_id,
                name=name,
                location=location,
                compound_id=compound_id,
                responsible_id=responsible_id,
                responsible_kind=(
                    (responsible_kind or SubjectKind.ORGANISATION) if responsible_id else None
                ),
                created_at=now,
            )
            repository = TargetRepository(connection)
            if not await repository.add_pest_point(point):
                raise Conflict(f"pest point {id} already exists")
            return await repository.pest_point(id) or point  # as stored

    async def list_pest_points(
        self, grid_id: str | None, page: PageRequest, reach: Reach = EVERYWHERE
    ) -> Slice[PestPoint]:
        async with self._database.connect() as connection:
            return await TargetRepository(connection).pest_points(grid_id, page, grids=reach.grids)

    async def record_reading(
        self,
        *,
        reading_id: uuid.UUID | None,
        point_id: str,
        pest: pest_rules.Pest,
        density: float,
        measured_at: datetime | None,
        recorded_by: str,
        reach: Reach = EVERYWHERE,
    ) -> tuple[Measurement, Inspection | None]:
        """A density reading; over its threshold it raises a failed pest-control finding."""
        now = self._clock.now()
        reading_id = reading_id or uuid.uuid4()
        reading = pest_rules.read(pest, density)
        failed = pest_rules.finding(reading)
        at = measured_at or now
        if at > now + READING_CLOCK_SKEW:
            raise RuleViolation("measured_at", "a reading cannot be taken in the future")
        async with self._database.connect() as connection:
            repository = TargetRepository(connection)
            point = await repository.pest_point(point_id)
            if point is None or not reach.covers(point.grid_id):
                raise NotFound("pest point", point_id)
            existing = await repository.reading(reading_id)
        inspection: Inspection | None = None
        if existing is not None:
            if existing.inspection_id:
                inspection = await self._reads.get_inspection(existing.inspection_id)
            return existing, inspection
        if failed is not None:
            inspection, _ = await self._recording.record(
                RecordRequest(
                    inspector_id=recorded_by,
                    findings=[failed],
                    checklist="pest_control",
                    inspection_id=uuid.uuid5(reading_id, "pest-reading"),
                    target=TargetRef("pest_point", point_id),
                    inspected_at=at,
                )
            )
        measurement = Measurement(
            id=reading_id,
            point_id=point_id,
            pest=pest,
            density=density,
            threshold=reading.threshold,
            measured_at=at,
            recorded_by=recorded_by,
            inspection_id=inspection.id if inspection else None,
        )
        async with self._database.transaction() as connection:
            repository = TargetRepository(connection)
            await repository.add_reading(measurement)  # or a resend racing this one did
            stored = await repository.reading(reading_id)
        return stored or measurement, inspection

    async def list_readings(
        self, point_id: str, page: PageRequest, reach: Reach = EVERYWHERE
    ) -> Slice[Measurement]:
        async with self._database.connect() as connection:
            repository = TargetRepository(connection)
            if reach.grids is not None:
                point = await repository.pest_point(point_id)
                if point is None or not reach.covers(point.grid_id):
                    raise NotFound("pest point", point_id)
            return await repository.readings(point_id, page)
