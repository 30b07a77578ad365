"""Inspections repositories: SQLAlchemy Core over the service's own tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_inspections.adapters.tables import (
    checklists,
    communities,
    compounds,
    evidence,
    evidence_photos,
    findings,
    grids,
    household_members,
    inspections,
    pest_points,
    pest_readings,
    rectification_evidence,
    rectification_timeline,
    rectifications,
    schedule_weeks,
    schedules,
    targets,
)
from linli_inspections.domain.checklist import Checklist, ChecklistItem
from linli_inspections.domain.evidence import Photo
from linli_inspections.domain.inspection import Evidence, Finding, Inspection, Target
from linli_inspections.domain.pest import Measurement, Pest, PestPoint
from linli_inspections.domain.rectification import (
    ComplyClock,
    Escalation,
    Rectification,
    ScheduledReinspection,
    Status,
    TimelineEntry,
)
from linli_inspections.domain.schedule import Schedule
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.db import insert_ignoring_conflicts
from linli_shared.memberships import HouseholdMembers
from linli_shared.pagination import PageRequest, Slice


class InspectionRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(
        self,
        inspection: Inspection,
        *,
        recorded_at: datetime | None = None,
        checklist_version: int | None = None,
    ) -> bool:
        """Insert the inspection; False when one with its id exists (even one being committed)."""
        # The values as parameters, not in the statement: its cache key stays the table's.
        result = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, inspections),
            {
                "id": inspection.id,
                "subject_id": inspection.subject_id,
                "subject_kind": inspection.subject_kind.value,
                "checklist": inspection.checklist,
                "inspector_id": inspection.inspector_id,
                "inspected_at": inspection.inspected_at,
                "outcome": inspection.outcome.value,
                "severity": inspection.severity.value if inspection.severity else None,
                "comply_by": inspection.comply_by,
                "target_kind": inspection.target_kind,
                "target_id": inspection.target_id,
                "grid_id": inspection.grid_id,
                "community_id": inspection.community_id,
                "checklist_version": checklist_version,
                "reinspection_of": inspection.reinspection_of,
                "recorded_at": recorded_at,
                "time_zone": inspection.time_zone,
            },
        )
        if result.rowcount != 1:
            return False
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
        photos = [
            {
                "inspection_id": inspection.id,
                "finding_position": i,
                "position": j,
                "photo_ref": e.photo_ref,
                "sha256": e.sha256,
                "latitude": e.latitude,
                "longitude": e.longitude,
                "taken_at": e.taken_at,
            }
            for i, f in enumerate(inspection.findings)
            for j, e in enumerate(f.evidence)
        ]
        if photos:
            await self._connection.execute(insert(evidence), photos)
        return True

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
        photo_rows = await self._connection.execute(
            select(evidence)
            .where(evidence.c.inspection_id == inspection_id)
            .order_by(evidence.c.finding_position, evidence.c.position)
        )
        photos: dict[int, list[Evidence]] = {}
        for p in photo_rows:
            photos.setdefault(p.finding_position, []).append(
                Evidence(p.photo_ref, p.sha256, p.latitude, p.longitude, p.taken_at)
            )
        return Inspection(
            id=row.id,
            subject_id=row.subject_id,
            subject_kind=SubjectKind(row.subject_kind),
            checklist=row.checklist,
            inspector_id=row.inspector_id,
            inspected_at=row.inspected_at,
            findings=tuple(
                Finding(
                    item=f.item,
                    passed=f.passed,
                    severity=Severity(f.severity),
                    note=f.note,
                    evidence=tuple(photos.get(f.position, ())),
                )
                for f in finding_rows
            ),
            target_kind=row.target_kind,
            target_id=row.target_id,
            grid_id=row.grid_id,
            community_id=row.community_id,
            reinspection_of=row.reinspection_of,
            time_zone=row.time_zone,
            received_at=row.recorded_at,
            recorded_comply_by=row.comply_by,
        )

    async def ids_about(self, subject_id: uuid.UUID) -> list[uuid.UUID]:
        """The inspections of which the subject is the responsible party, oldest first."""
        rows = await self._connection.execute(
            select(inspections.c.id)
            .where(inspections.c.subject_id == subject_id)
            .order_by(inspections.c.inspected_at, inspections.c.id)
        )
        return [row.id for row in rows]

    async def count_done(
        self, target_kind: str, target_id: str, checklist: str, start: datetime, end: datetime
    ) -> int:
        return int(
            await self._connection.scalar(
                select(func.count())
                .select_from(inspections)
                .where(
                    inspections.c.target_kind == target_kind,
                    inspections.c.target_id == target_id,
                    inspections.c.checklist == checklist,
                    inspections.c.inspected_at >= start,
                    inspections.c.inspected_at < end,
                )
            )
            or 0
        )


class PhotoRepository:
    """Uploaded photos, one row per content hash."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, photo: Photo) -> bool:
        """Store the photo; False when these bytes were uploaded before (even being committed)."""
        result = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, evidence_photos).values(
                sha256=photo.sha256,
                content_type=photo.content_type,
                size=photo.size,
                bytes=photo.content,
                uploaded_by=photo.uploaded_by,
                uploaded_at=photo.uploaded_at,
            )
        )
        return bool(result.rowcount)

    async def get(self, sha256: str, *, with_content: bool = True) -> Photo | None:
        columns = [
            evidence_photos.c.sha256,
            evidence_photos.c.content_type,
            evidence_photos.c.size,
            evidence_photos.c.uploaded_by,
            evidence_photos.c.uploaded_at,
        ]
        if with_content:
            columns.append(evidence_photos.c.bytes)
        row = (
            await self._connection.execute(
                select(*columns).where(evidence_photos.c.sha256 == sha256)
            )
        ).first()
        if row is None:
            return None
        return Photo(
            sha256=row.sha256,
            content_type=row.content_type,
            size=row.size,
            uploaded_by=row.uploaded_by,
            uploaded_at=row.uploaded_at,
            content=bytes(row.bytes) if with_content else b"",
        )

    async def shown_in_grids(self, sha256: str, grids: frozenset[str]) -> bool:
        """Whether an inspection in one of these grids has this photo as evidence."""
        found = await self._connection.scalar(
            select(evidence.c.inspection_id)
            .join(inspections, inspections.c.id == evidence.c.inspection_id)
            .where(evidence.c.sha256 == sha256, inspections.c.grid_id.in_(grids))
            .limit(1)
        )
        return found is not None

    async def shown_in(
        self, sha256: str, grids: frozenset[str], parties: frozenset[uuid.UUID]
    ) -> bool:
        """Whether an inspection or a case in one of these grids, or about one of these parties
        (the responsible party), shows this photo: as an inspection's evidence or with a report
        of a fix."""
        if not grids and not parties:
            return False
        if grids and await self.shown_in_grids(sha256, grids):
            return True
        by_inspection = await self._connection.scalar(
            select(evidence.c.inspection_id)
            .join(inspections, inspections.c.id == evidence.c.inspection_id)
            .where(evidence.c.sha256 == sha256, inspections.c.subject_id.in_(sorted(parties)))
            .limit(1)
        )
        if by_inspection is not None:
            return True
        by_case = await self._connection.scalar(
            select(rectification_evidence.c.rectification_id)
            .join(rectifications, rectifications.c.id == rectification_evidence.c.rectification_id)
            .where(
                rectification_evidence.c.sha256 == sha256,
                or_(
                    rectifications.c.grid_id.in_(sorted(grids)),
                    rectifications.c.subject_id.in_(sorted(parties)),
                ),
            )
            .limit(1)
        )
        return by_case is not None


class ChecklistRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, checklist: Checklist) -> bool:
        result = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, checklists).values(
                name=checklist.name,
                version=checklist.version,
                title=checklist.title,
                items=[
                    {"code": i.code, "text": i.text, "severity": i.severity.value}
                    for i in checklist.items
                ],
                created_at=checklist.created_at,
            )
        )
        return bool(result.rowcount == 1)

    async def get(self, name: str, version: int | None = None) -> Checklist | None:
        query = select(checklists).where(checklists.c.name == name)
        if version is None:
            query = query.order_by(checklists.c.version.desc()).limit(1)
        else:
            query = query.where(checklists.c.version == version)
        row = (await self._connection.execute(query)).one_or_none()
        return _checklist(row) if row else None

    async def latest_all(self, page: PageRequest) -> Slice[Checklist]:
        """The latest version of each checklist, by name."""
        latest = (
            select(checklists.c.name, func.max(checklists.c.version).label("version"))
            .group_by(checklists.c.name)
            .subquery()
        )
        total = int(await self._connection.scalar(select(func.count()).select_from(latest)) or 0)
        rows = await self._connection.execute(
            select(checklists)
            .join(
                latest,
                (checklists.c.name == latest.c.name) & (checklists.c.version == latest.c.version),
            )
            .order_by(checklists.c.name)
            .limit(page.limit)
            .offset(page.offset)
        )
        return Slice([_checklist(row) for row in rows], total, page)

    async def versions(self, name: str, page: PageRequest) -> Slice[Checklist]:
        """Every version of the checklist, oldest first."""
        where = checklists.c.name == name
        total = int(
            await self._connection.scalar(select(func.count()).select_from(checklists).where(where))
            or 0
        )
        rows = await self._connection.execute(
            select(checklists)
            .where(where)
            .order_by(checklists.c.version)
            .limit(page.limit)
            .offset(page.offset)
        )
        return Slice([_checklist(row) for row in rows], total, page)


def _checklist(row: Any) -> Checklist:
    return Checklist(
        name=row.name,
        version=row.version,
        title=row.title,
        items=tuple(
            ChecklistItem(i["code"], i["text"], Severity(i["severity"])) for i in row.items
        ),
        created_at=row.created_at,
    )


@dataclass(frozen=True)
class RecordingContext:
    """What recording an inspection reads besides the request: the target as the read model
    knows it (when asked to read it), its community's time zone, the target's active schedule
    for the checklist, and the checklist's template (the version asked, else the latest)."""

    target: Target | None
    time_zone: str | None
    schedule_id: uuid.UUID | None
    template: Checklist | None


class RecordingLookup:
    """What recording an inspection reads besides the request, in one round trip."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def context(
        self,
        checklist: str | None,
        version: int | None,
        *,
        target: tuple[str, str] | None = None,
        read_target: bool = False,
        community_id: str | None = None,
    ) -> RecordingContext:
        """`target` is the (kind, id) whose schedule is looked up; with `read_target`, its
        active row in the read model too, whose community gives the zone (else
        `community_id`'s)."""
        read_target = read_target and target is not None
        query = _context_query(
            read_target=read_target,
            checklist=checklist is not None,
            latest=version is None,
            scheduled=target is not None and checklist is not None,
        )
        kind, target_id = target or (None, None)
        parameters = {
            "kind": kind,
            "target_id": target_id,
            "community_id": community_id,
            "checklist": checklist,
            "version": version,
        }
        row = (await self._connection.execute(query, parameters)).one()
        found = read_target and row.subject_id is not None
        return RecordingContext(
            target=_target(row) if found else None,
            time_zone=row.time_zone,
            schedule_id=row.schedule_id,
            template=_checklist(row) if checklist is not None and row.name is not None else None,
        )


def _target(row: Any) -> Target:
    return Target(
        kind=row.kind,
        id=row.id,
        subject_id=row.subject_id,
        subject_kind=SubjectKind(row.subject_kind),
        grid_id=row.grid_id,
        community_id=row.community_id,
    )


@cache
def _context_query(*, read_target: bool, checklist: bool, latest: bool, scheduled: bool) -> Any:
    """`RecordingLookup.context`'s statement of this shape, built once: building one anew (and
    its cache key) took a tenth of a recording's CPU."""
    # One row whatever is missing: everything hangs off a constant by outer joins.
    source: Any = select(literal(1).label("one")).subquery()
    columns: list[Any] = []
    if read_target:
        source = source.outerjoin(
            targets,
            and_(
                targets.c.kind == bindparam("kind"),
                targets.c.id == bindparam("target_id"),
                targets.c.active.is_(True),
            ),
        )
        columns += [targets.c.kind, targets.c.id, targets.c.subject_id, targets.c.subject_kind]
        columns += [targets.c.grid_id, targets.c.community_id]
        source = source.outerjoin(communities, communities.c.id == targets.c.community_id)
    else:
        source = source.outerjoin(communities, communities.c.id == bindparam("community_id"))
    if checklist:
        wanted = (
            select(func.max(checklists.c.version))
            .where(checklists.c.name == bindparam("checklist"))
            .scalar_subquery()
            if latest
            else bindparam("version")
        )
        source = source.outerjoin(
            checklists,
            and_(checklists.c.name == bindparam("checklist"), checklists.c.version == wanted),
        )
        columns += [checklists.c.name, checklists.c.version, checklists.c.title]
        columns += [checklists.c["items"], checklists.c.created_at]
    schedule: Any = null()
    if scheduled:
        schedule = (
            select(schedules.c.id)
            .where(
                schedules.c.target_kind == bindparam("kind"),
                schedules.c.target_id == bindparam("target_id"),
                schedules.c.checklist == bindparam("checklist"),
                schedules.c.active.is_(True),
            )
            .order_by(schedules.c.created_at)
            .limit(1)
            .scalar_subquery()
        )
    return select(communities.c.time_zone, schedule.label("schedule_id"), *columns).select_from(
        source
    )


class TargetRepository:
    """The read model of inspectable targets, and the pest monitoring points this service owns."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def upsert(self, target: Target, *, active: bool = True) -> None:
        values = {
            "subject_id": target.subject_id,
            "subject_kind": target.subject_kind.value,
            "grid_id": target.grid_id,
            "community_id": target.community_id,
            "active": active,
        }
        changed = await self._connection.execute(
            update(targets)
            .where(targets.c.kind == target.kind, targets.c.id == target.id)
            .values(**values)
        )
        if changed.rowcount == 0:
            await self._connection.execute(
                insert(targets).values(kind=target.kind, id=target.id, **values)
            )

    async def deactivate(self, kind: str, target_id: str) -> None:
        await self._connection.execute(
            update(targets)
            .where(targets.c.kind == kind, targets.c.id == target_id)
            .values(active=False)
        )

    async def forget(self, kind: str, target_id: str) -> None:
        await self._connection.execute(
            delete(targets).where(targets.c.kind == kind, targets.c.id == target_id)
        )

    async def release(self, subject_id: uuid.UUID, kind: str, keep: Sequence[str]) -> None:
        """Forget targets of `kind` this subject no longer answers for."""
        await self._connection.execute(
            delete(targets).where(
                targets.c.kind == kind,
                targets.c.subject_id == subject_id,
                targets.c.id.not_in(list(keep)),
            )
        )

    async def answers_for_something(self, subject_id: uuid.UUID) -> bool:
        """Whether the subject answers for an active target (an organisation's compounds and
        frontage segments, from the registry's events)."""
        found = await self._connection.scalar(
            select(targets.c.id)
            .where(targets.c.subject_id == subject_id, targets.c.active.is_(True))
            .limit(1)
        )
        return found is not None

    async def get(self, kind: str, target_id: str) -> Target | None:
        row = (
            await self._connection.execute(
                select(targets).where(
                    targets.c.kind == kind, targets.c.id == target_id, targets.c.active.is_(True)
                )
            )
        ).one_or_none()
        return None if row is None else _target(row)

    async def add_pest_point(self, point: PestPoint) -> bool:
        result = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, pest_points).values(
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
        )
        return bool(result.rowcount == 1)

    async def pest_point(self, point_id: str) -> PestPoint | None:
        row = (
            await self._connection.execute(select(pest_points).where(pest_points.c.id == point_id))
        ).one_or_none()
        return _pest_point(row) if row else None

    async def pest_points(
        self, grid_id: str | None, page: PageRequest, *, grids: frozenset[str] | None = None
    ) -> Slice[PestPoint]:
        conditions = [pest_points.c.grid_id == grid_id] if grid_id else []
        if grids is not None:
            conditions.append(pest_points.c.grid_id.in_(sorted(grids)))
        total = int(
            await self._connection.scalar(
                select(func.count()).select_from(pest_points).where(*conditions)
            )
            or 0
        )
        rows = await self._connection.execute(
            select(pest_points)
            .where(*conditions)
            .order_by(pest_points.c.id)
            .limit(page.limit)
            .offset(page.offset)
        )
        return Slice([_pest_point(row) for row in rows], total, page)

    async def add_reading(self, measurement: Measurement) -> bool:
        result = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, pest_readings).values(
                id=measurement.id,
                point_id=measurement.point_id,
                pest=measurement.pest.value,
                density=measurement.density,
                threshold=measurement.threshold,
                measured_at=measurement.measured_at,
                recorded_by=measurement.recorded_by,
                inspection_id=measurement.inspection_id,
            )
        )
        return bool(result.rowcount == 1)

    async def reading(self, reading_id: uuid.UUID) -> Measurement | None:
        row = (
            await self._connection.execute(
                select(pest_readings).where(pest_readings.c.id == reading_id)
            )
        ).one_or_none()
        return _measurement(row) if row else None

    async def readings(self, point_id: str, page: PageRequest) -> Slice[Measurement]:
        where = pest_readings.c.point_id == point_id
        total = int(
            await self._connection.scalar(
                select(func.count()).select_from(pest_readings).where(where)
            )
            or 0
        )
        rows = await self._connection.execute(
            select(pest_readings)
            .where(where)
            .order_by(pest_readings.c.measured_at.desc(), pest_readings.c.id)
            .limit(page.limit)
            .offset(page.offset)
        )
        return Slice([_measurement(row) for row in rows], total, page)


def _pest_point(row: Any) -> PestPoint:
    return PestPoint(
        id=row.id,
        community_id=row.community_id,
        grid_id=row.grid_id,
        name=row.name,
        location=row.location,
        compound_id=row.compound_id,
        responsible_id=row.responsible_id,
        responsible_kind=SubjectKind(row.responsible_kind) if row.responsible_kind else None,
        created_at=row.created_at,
    )


def _measurement(row: Any) -> Measurement:
    return Measurement(
        id=row.id,
        point_id=row.point_id,
        pest=Pest(row.pest),
        density=row.density,
        threshold=row.threshold,
        measured_at=row.measured_at,
        recorded_by=row.recorded_by,
        inspection_id=row.inspection_id,
    )


class PlaceReadModel:
    """The registry's places as its events describe them: each row is the latest state."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def _put(self, table: Table, place_id: str, values: dict[str, Any]) -> None:
        changed = await self._connection.execute(
            update(table).where(table.c.id == place_id).values(**values)
        )
        if changed.rowcount == 0:
            await self._connection.execute(insert(table).values(id=place_id, **values))

    async def put_community(self, community_id: str, *, name: str, time_zone: str) -> None:
        await self._put(communities, community_id, {"name": name, "time_zone": time_zone})

    async def put_grid(
        self, grid_id: str, *, community_id: str, name: str, worker_id: str | None
    ) -> None:
        await self._put(
            grids, grid_id, {"community_id": community_id, "name": name, "worker_id": worker_id}
        )

    async def put_compound(
        self,
        compound_id: str,
        *,
        community_id: str,
        grid_id: str,
        name: str,
        property_manager_id: uuid.UUID | None,
    ) -> None:
        await self._put(
            compounds,
            compound_id,
            {
                "community_id": community_id,
                "grid_id": grid_id,
                "name": name,
                "property_manager_id": property_manager_id,
            },
        )

    async def compound(self, compound_id: str, *, for_update: bool = False) -> Any | None:
        query = select(compounds).where(compounds.c.id == compound_id)
        if for_update:
            query = query.with_for_update()
        return (await self._connection.execute(query)).one_or_none()

    async def time_zone_of(self, community_id: str | None) -> str | None:
        """The community's IANA time zone; None while its event has not arrived."""
        if community_id is None:
            return None
        zone: str | None = await self._connection.scalar(
            select(communities.c.time_zone).where(communities.c.id == community_id)
        )
        return zone

    async def household_of(self, resident_id: uuid.UUID) -> uuid.UUID | None:
        return await HouseholdMembers(self._connection, household_members).household_of(resident_id)

    async def members_of(self, household_id: uuid.UUID) -> list[uuid.UUID]:
        return await HouseholdMembers(self._connection, household_members).of(household_id)

    async def put_members(
        self, household_id: uuid.UUID, resident_ids: Sequence[uuid.UUID], version: int
    ) -> bool:
        """See `linli_shared.memberships`."""
        members = HouseholdMembers(self._connection, household_members)
        return await members.put(household_id, resident_ids, version)

    async def time_zone_of_grid(self, grid_id: str) -> str | None:
        zone: str | None = await self._connection.scalar(
            select(communities.c.time_zone)
            .join(grids, grids.c.community_id == communities.c.id)
            .where(grids.c.id == grid_id)
        )
        return zone


class ScheduleRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, schedule: Schedule) -> None:
        await self._connection.execute(
            insert(schedules).values(
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
        )

    async def find(self, target_kind: str, target_id: str, checklist: str) -> Schedule | None:
        row = (
            await self._connection.execute(
                select(schedules)
                .where(
                    schedules.c.target_kind == target_kind,
                    schedules.c.target_id == target_id,
                    schedules.c.checklist == checklist,
                    schedules.c.active.is_(True),
                )
                .order_by(schedules.c.created_at)
                .limit(1)
            )
        ).one_or_none()
        return _schedule(row) if row else None

    async def get(self, schedule_id: uuid.UUID) -> Schedule | None:
        row = (
            await self._connection.execute(select(schedules).where(schedules.c.id == schedule_id))
        ).one_or_none()
        return _schedule(row) if row else None

    async def deactivate(self, schedule_id: uuid.UUID) -> bool:
        result = await self._connection.execute(
            update(schedules).where(schedules.c.id == schedule_id).values(active=False)
        )
        return bool(result.rowcount == 1)

    async def search(
        self,
        grid_id: str | None,
        page: PageRequest,
        *,
        active_only: bool = True,
        grids: frozenset[str] | None = None,
    ) -> Slice[Schedule]:
        conditions: list[Any] = []
        if grid_id:
            conditions.append(schedules.c.grid_id == grid_id)
        if grids is not None:
            conditions.append(schedules.c.grid_id.in_(sorted(grids)))
        if active_only:
            conditions.append(schedules.c.active.is_(True))
        total = int(
            await self._connection.scalar(
                select(func.count()).select_from(schedules).where(*conditions)
            )
            or 0
        )
        rows = await self._connection.execute(
            select(schedules)
            .where(*conditions)
            .order_by(schedules.c.created_at, schedules.c.id)
            .limit(page.limit)
            .offset(page.offset)
        )
        return Slice([_schedule(row) for row in rows], total, page)

    async def in_grid(self, grid_id: str) -> list[Schedule]:
        rows = await self._connection.execute(
            select(schedules)
            .where(schedules.c.grid_id == grid_id)
            .order_by(schedules.c.created_at, schedules.c.id)
        )
        return [_schedule(row) for row in rows]

    async def active_ids(self) -> list[uuid.UUID]:
        return list(
            (
                await self._connection.scalars(
                    select(schedules.c.id).where(schedules.c.active.is_(True))
                )
            ).all()
        )

    async def lock(self, schedule_id: uuid.UUID, *, skip_locked: bool) -> Any | None:
        return (
            await self._connection.execute(
                select(schedules)
                .where(schedules.c.id == schedule_id)
                .with_for_update(skip_locked=skip_locked)
            )
        ).one_or_none()

    async def record_week(
        self, schedule_id: uuid.UUID, week_starting: datetime, due: int, done: int
    ) -> bool:
        result = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, schedule_weeks).values(
                schedule_id=schedule_id, week_starting=week_starting, due=due, done=done
            )
        )
        await self._connection.execute(
            update(schedules)
            .where(schedules.c.id == schedule_id)
            .values(evaluated_until=week_starting)
        )
        return bool(result.rowcount == 1)


def _schedule(row: Any) -> Schedule:
    return Schedule(
        id=row.id,
        target_kind=row.target_kind,
        target_id=row.target_id,
        checklist=row.checklist,
        times_per_week=row.times_per_week,
        grid_id=row.grid_id,
        community_id=row.community_id,
        created_at=row.created_at,
        active=row.active,
    )


class RectificationRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    def _values(self, case: Rectification) -> dict[str, Any]:
        planned = case.scheduled_reinspection
        return {
            "comply_by": case.comply_by,
            "notified_at": case.notified_at,
            "comply_clock": case.comply_clock.value if case.comply_clock else None,
            "status": case.status.value,
            "ready_at": case.ready_at,
            "overdue_since": case.overdue_since,
            "escalation": case.escalation.value,
            "escalated_at": case.escalated_at,
            "verified_at": case.verified_at,
            "reinspection_id": case.reinspection_id,
            "on_time": case.on_time,
            "reinspection_scheduled_for": planned.scheduled_for if planned else None,
            "reinspection_scheduled_by": planned.scheduled_by if planned else None,
            "reinspection_scheduled_at": planned.scheduled_at if planned else None,
            "reinspection_inspector_id": planned.inspector_id if planned else None,
            "reinspection_note": planned.note if planned else None,
        }

    async def add(self, case: Rectification) -> None:
        await self._connection.execute(
            insert(rectifications),
            {
                "id": case.id,
                "inspection_id": case.inspection_id,
                "subject_id": case.subject_id,
                "subject_kind": case.subject_kind.value,
                "checklist": case.checklist,
                "target_kind": case.target_kind,
                "target_id": case.target_id,
                "grid_id": case.grid_id,
                "community_id": case.community_id,
                "severity": case.severity.value,
                "failed_findings": [
                    {"item": f.item, "severity": f.severity.value, "note": f.note}
                    for f in case.failed_findings
                ],
                "requested_at": case.requested_at,
                "observed_at": case.observed_at,
                "time_zone": case.time_zone,
                **self._values(case),
            },
        )

    async def save(self, case: Rectification) -> None:
        await self._connection.execute(_SAVE_CASE, {"case": case.id, **self._values(case)})

    async def get(
        self, rectification_id: uuid.UUID, *, for_update: bool = False, skip_locked: bool = False
    ) -> Rectification | None:
        query = select(rectifications).where(rectifications.c.id == rectification_id)
        if for_update:
            query = query.with_for_update(skip_locked=skip_locked)
        row = (await self._connection.execute(query)).one_or_none()
        return _rectification(row) if row else None

    async def of_inspection(
        self, inspection_id: uuid.UUID, *, for_update: bool = False
    ) -> Rectification | None:
        """The case a failed inspection opened, if any."""
        query = _CASE_OF_INSPECTION_LOCKED if for_update else _CASE_OF_INSPECTION
        row = (await self._connection.execute(query, {"inspection": inspection_id})).one_or_none()
        return _rectification(row) if row else None

    async def add_entry(self, rectification_id: uuid.UUID, entry: TimelineEntry) -> None:
        """Append to the case's timeline (the case row is locked or new: no racing append)."""
        await self._connection.execute(
            _APPEND_ENTRY,
            {
                "rectification_id": rectification_id,
                "case": rectification_id,
                "at": entry.at,
                "kind": entry.kind,
                "detail": entry.detail,
            },
        )

    async def timeline(self, rectification_id: uuid.UUID) -> list[TimelineEntry]:
        rows = await self._connection.execute(
            select(rectification_timeline)
            .where(rectification_timeline.c.rectification_id == rectification_id)
            .order_by(rectification_timeline.c.position)
        )
        return [TimelineEntry(row.at, row.kind, row.detail) for row in rows]

    async def needing_attention(
        self, now: datetime, department_after_cutoff: datetime
    ) -> list[uuid.UUID]:
        """Open cases past their deadline (not those waiting to be told of it), and overdue cases
        due for their next escalation."""
        rows = await self._connection.scalars(
            select(rectifications.c.id)
            .where(
                (
                    (rectifications.c.status == Status.OPEN.value)
                    & (rectifications.c.comply_by < now)
                    & (
                        rectifications.c.comply_clock.is_(None)
                        | (rectifications.c.comply_clock != ComplyClock.NOTIFIED.value)
                        | rectifications.c.notified_at.is_not(None)
                    )
                )
                | (
                    (rectifications.c.status == Status.OVERDUE.value)
                    & (
                        (rectifications.c.escalation == Escalation.NONE.value)
                        | (
                            (rectifications.c.escalation == Escalation.GRID_WORKER.value)
                            & (rectifications.c.overdue_since <= department_after_cutoff)
                        )
                    )
                )
            )
            .order_by(rectifications.c.comply_by)
        )
        return list(rows.all())

    async def add_evidence(
        self, rectification_id: uuid.UUID, shown: Sequence[Evidence], at: datetime
    ) -> None:
        """The photos shown with a report of the fix (each photo once per case)."""
        for photo in {e.sha256.lower(): e for e in shown}.values():
            await self._connection.execute(
                insert_ignoring_conflicts(self._connection, rectification_evidence).values(
                    rectification_id=rectification_id,
                    sha256=photo.sha256.lower(),
                    photo_ref=photo.photo_ref,
                    added_at=at,
                )
            )

    async def search(
        self,
        *,
        status: Status | None,
        grid_id: str | None,
        subject_id: uuid.UUID | None,
        page: PageRequest,
        grids: frozenset[str] | None = None,
        parties: frozenset[uuid.UUID] = frozenset(),
    ) -> Slice[Rectification]:
        """`grids` (None: every grid) and `parties`: the cases in those grids, or whose
        responsible party is one of those parties."""
        conditions: list[Any] = []
        if status is not None:
            conditions.append(rectifications.c.status == status.value)
        if grid_id:
            conditions.append(rectifications.c.grid_id == grid_id)
        if grids is not None:
            conditions.append(
                or_(
                    rectifications.c.grid_id.in_(sorted(grids)),
                    rectifications.c.subject_id.in_(sorted(parties)),
                )
            )
        if subject_id:
            conditions.append(rectifications.c.subject_id == subject_id)
        total = int(
            await self._connection.scalar(
                select(func.count()).select_from(rectifications).where(*conditions)
            )
            or 0
        )
        rows = await self._connection.execute(
            select(rectifications)
            .where(*conditions)
            .order_by(rectifications.c.requested_at, rectifications.c.id)
            .limit(page.limit)
            .offset(page.offset)
        )
        return Slice([_rectification(row) for row in rows], total, page)


# Built once, executed with parameters: a statement holding its values is built anew and its
# cache key computed over them on every call (docs/performance.md). The columns to set are the
# parameters named after them.
_SAVE_CASE = update(rectifications).where(rectifications.c.id == bindparam("case"))
_CASE_OF_INSPECTION = select(rectifications).where(
    rectifications.c.inspection_id == bindparam("inspection")
)
_CASE_OF_INSPECTION_LOCKED = _CASE_OF_INSPECTION.with_for_update()
# Built once (its cache key too): the next position is the count of the case's entries.
_APPEND_ENTRY = insert(rectification_timeline).values(
    position=select(func.count())
    .select_from(rectification_timeline)
    .where(rectification_timeline.c.rectification_id == bindparam("case"))
    .scalar_subquery()
)


def _rectification(row: Any) -> Rectification:
    return Rectification(
        id=row.id,
        inspection_id=row.inspection_id,
        subject_id=row.subject_id,
        subject_kind=SubjectKind(row.subject_kind),
        checklist=row.checklist,
        target_kind=row.target_kind,
        target_id=row.target_id,
        grid_id=row.grid_id,
        community_id=row.community_id,
        severity=Severity(row.severity),
        comply_by=row.comply_by,
        failed_findings=tuple(
            Finding(f["item"], False, Severity(f["severity"]), f["note"])
            for f in row.failed_findings
        ),
        requested_at=row.requested_at,
        status=Status(row.status),
        ready_at=row.ready_at,
        overdue_since=row.overdue_since,
        escalation=Escalation(row.escalation),
        escalated_at=row.escalated_at,
        verified_at=row.verified_at,
        reinspection_id=row.reinspection_id,
        on_time=row.on_time,
        scheduled_reinspection=ScheduledReinspection(
            scheduled_for=row.reinspection_scheduled_for,
            scheduled_by=row.reinspection_scheduled_by,
            scheduled_at=row.reinspection_scheduled_at,
            inspector_id=row.reinspection_inspector_id,
            note=row.reinspection_note,
        )
        if row.reinspection_scheduled_for is not None
        else None,
        observed_at=row.observed_at,
        notified_at=row.notified_at,
        comply_clock=ComplyClock(row.comply_clock) if row.comply_clock else None,
        time_zone=row.time_zone,
    )
