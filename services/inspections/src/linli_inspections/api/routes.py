from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from linli_inspections.api.deps import (
    CallerHousehold,
    CaseReader,
    Cases,
    Coverage,
    Evidence,
    Inspector,
    Paging,
    Pests,
    Planner,
    Publisher,
    Reader,
    Reads,
    Recording,
    Reporter,
    Resident,
    Scheduler,
    Templates,
    Uploaded,
    Uploader,
)
from linli_inspections.api.schemas import (
    BatchIn,
    BatchItemOut,
    BatchOut,
    ChecklistIn,
    ChecklistOut,
    ChecklistPage,
    CoverageOut,
    DataCopyOut,
    InspectionIn,
    InspectionOut,
    PestPointIn,
    PestPointOut,
    PestPointPage,
    PhotoOut,
    ReadingIn,
    ReadingOut,
    ReadingPage,
    ReadyIn,
    RectificationOut,
    RectificationPage,
    ReinspectionIn,
    ScheduleIn,
    ScheduleOut,
    SchedulePage,
)
from linli_inspections.domain import schedule as schedule_rules
from linli_inspections.domain.evidence import CONTENT_TYPES
from linli_inspections.domain.rectification import Status
from linli_inspections.service.lookups import TargetRef
from linli_shared.audit import mark_personal_data_read, mark_subjects_revealed
from linli_shared.errors import Problem
from linli_shared.reach import reach_of

router = APIRouter()

# --- inspections ----------------------------------------------------------------------------


@router.post(
    "/inspections",
    tags=["inspections"],
    status_code=status.HTTP_201_CREATED,
    response_model=InspectionOut,
    summary="Record an inspection (of a subject, a target, or a re-inspection); any failed "
    "finding fails it",
    responses={
        200: {"model": InspectionOut, "description": "Already recorded with this id"},
        403: {"model": Problem, "description": "The target is outside the caller's grids"},
        409: {"model": Problem, "description": "This id was recorded with other content"},
    },
)
async def record_inspection(
    body: InspectionIn,
    response: Response,
    recording: Recording,
    principal: Inspector,
) -> InspectionOut:
    request = body.request(principal.subject)
    inspection, created = await recording.record(request, reach_of(principal))
    if not created:
        response.status_code = status.HTTP_200_OK
    return InspectionOut.of(inspection)


@router.post(
    "/inspections/batch",
    tags=["inspections"],
    response_model=BatchOut,
    summary="Upload inspections captured offline; each is recorded once however often sent",
    description="Each item stands alone: an item outside the caller's grids comes back "
    "`forbidden` (and one with bad content `invalid`) while the others are recorded, so a "
    "device can drop what was accepted and show the rest to the inspector.",
)
async def record_batch(
    body: BatchIn,
    recording: Recording,
    principal: Inspector,
) -> BatchOut:
    results = await recording.record_batch(
        [i.request(principal.subject) for i in body.inspections], reach_of(principal)
    )
    items = [BatchItemOut.of(r) for r in results]
    return BatchOut(
        results=items,
        recorded=sum(1 for r in items if r.status == "recorded"),
        duplicates=sum(1 for r in items if r.status == "duplicate"),
        rejected=sum(1 for r in items if r.status not in ("recorded", "duplicate")),
    )


@router.get(
    "/inspections/{inspection_id}",
    tags=["inspections"],
    response_model=InspectionOut,
    responses={404: {"model": Problem}},
    summary="An inspection by id (a responsible party: of its own targets)",
)
async def get_inspection(
    inspection_id: uuid.UUID,
    reads: Reads,
    principal: CaseReader,
    household: CallerHousehold,
) -> InspectionOut:
    reach = reach_of(principal, household)
    return InspectionOut.of(await reads.get_inspection(inspection_id, reach))


# --- evidence -------------------------------------------------------------------------------

_IMAGE = {"schema": {"type": "string", "format": "binary"}}


@router.post(
    "/evidence",
    tags=["evidence"],
    status_code=status.HTTP_201_CREATED,
    response_model=PhotoOut,
    summary="Upload a photo (the raw bytes as the body); an inspection's evidence then names it",
    description="The body is the photo itself, sent as `image/jpeg`, `image/png` or `image/webp` "
    "(its bytes must be of that type). It is stored once under its SHA-256: the same bytes sent "
    "again answer 200 with the same reference. Refer to it in an inspection's evidence with the "
    "answer's `photo_ref` and `sha256`.",
    openapi_extra={
        "requestBody": {"required": True, "content": dict.fromkeys(CONTENT_TYPES, _IMAGE)}
    },
    responses={
        200: {"model": PhotoOut, "description": "These bytes were uploaded before"},
        413: {"model": Problem, "description": "Larger than LINLI_INSPECTIONS_EVIDENCE_MAX_BYTES"},
        415: {"model": Problem, "description": "Not a JPEG, PNG or WebP photo"},
    },
)
async def upload_evidence(
    body: Uploaded,
    response: Response,
    evidence: Evidence,
    principal: Uploader,
) -> PhotoOut:
    photo, created = await evidence.upload(body.content_type, body.content, principal.subject)
    if not created:
        response.status_code = status.HTTP_200_OK
    return PhotoOut.of(photo)


@router.get(
    "/evidence/{sha256}",
    tags=["evidence"],
    response_class=Response,
    responses={
        200: {"content": dict.fromkeys(CONTENT_TYPES, _IMAGE), "description": "The photo"},
        404: {"model": Problem},
    },
    summary="An uploaded photo's bytes (grid workers and inspectors: of their grids' "
    "inspections and cases; responsible parties: of their own; each: their own uploads)",
)
async def get_evidence(
    sha256: Annotated[str, Path(pattern=r"^[0-9a-fA-F]{64}$")],
    evidence: Evidence,
    principal: CaseReader,
    household: CallerHousehold,
) -> Response:
    photo = await evidence.get(sha256, principal.subject, reach_of(principal, household))
    return Response(
        photo.content,
        media_type=photo.content_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"},
    )


# --- rectifications -------------------------------------------------------------------------


@router.get(
    "/rectifications",
    tags=["rectifications"],
    response_model=RectificationPage,
    summary="Rectification cases (filter by status, grid, responsible party)",
    description="A grid worker or inspector sees its grids' cases; a property manager or shop "
    "only the cases it is the responsible party of.",
)
async def list_rectifications(
    page: Paging,
    reads: Reads,
    principal: CaseReader,
    household: CallerHousehold,
    case_status: Annotated[Status | None, Query(alias="status")] = None,
    grid_id: Annotated[str | None, Query(max_length=64)] = None,
    subject_id: uuid.UUID | None = None,
) -> RectificationPage:
    found = await reads.search_rectifications(
        status=case_status,
        grid_id=grid_id,
        subject_id=subject_id,
        page=page,
        reach=reach_of(principal, household),
    )
    return RectificationPage(
        items=[RectificationOut.of(c) for c in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/rectifications/{rectification_id}",
    tags=["rectifications"],
    response_model=RectificationOut,
    responses={404: {"model": Problem}},
    summary="A rectification case with its timeline",
)
async def get_rectification(
    rectification_id: uuid.UUID,
    reads: Reads,
    principal: CaseReader,
    household: CallerHousehold,
) -> RectificationOut:
    reach = reach_of(principal, household)
    case, timeline = await reads.get_rectification(rectification_id, reach)
    return RectificationOut.of(case, timeline)


@router.post(
    "/rectifications/{rectification_id}/ready",
    tags=["rectifications"],
    response_model=RectificationOut,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
    summary="The responsible party reports the fix done: ready for re-inspection",
    description="A property manager or shop reports its own cases only (another's is 404), "
    "optionally with a note and photos of the fix (uploaded first, POST /v1/evidence); staff "
    "report for the party.",
)
async def report_rectification_ready(
    rectification_id: uuid.UUID,
    cases: Cases,
    reads: Reads,
    principal: Reporter,
    body: ReadyIn | None = None,
) -> RectificationOut:
    report = (body or ReadyIn()).request()
    await cases.report_ready(rectification_id, principal.subject, reach_of(principal), report)
    case, timeline = await reads.get_rectification(rectification_id)
    return RectificationOut.of(case, timeline)


@router.post(
    "/rectifications/{rectification_id}/reinspection",
    tags=["rectifications"],
    response_model=RectificationOut,
    responses={404: {"model": Problem}, 409: {"model": Problem, "description": "Verified"}},
    summary="Schedule (or reschedule) the case's re-inspection",
)
async def schedule_reinspection(
    rectification_id: uuid.UUID,
    body: ReinspectionIn,
    cases: Cases,
    reads: Reads,
    principal: Scheduler,
) -> RectificationOut:
    await cases.schedule_reinspection(
        rectification_id, body.request(), principal.subject, reach_of(principal)
    )
    case, timeline = await reads.get_rectification(rectification_id)
    return RectificationOut.of(case, timeline)


@router.get(
    "/residents/{resident_id}/data-copy",
    tags=["residents"],
    response_model=DataCopyOut,
    responses={404: {"model": Problem}},
    summary="A copy of what inspections holds about a resident, for the resident (audited)",
    description="Every inspection of their household (with findings, notes and photo "
    "references) and its rectification cases with their timelines. A resident asks for their "
    "own only: any other resident id is 404. Every copy is a `personal-data-read` in the audit "
    "trail.",
)
async def get_data_copy(
    resident_id: uuid.UUID,
    request: Request,
    reads: Reads,
    principal: Resident,
    household: CallerHousehold,
) -> DataCopyOut:
    copy = await reads.data_copy(resident_id, reach_of(principal, household))
    mark_personal_data_read(request, request.url.path)
    mark_subjects_revealed(request, [copy.household_id])
    return DataCopyOut.of(copy)


# --- checklists -----------------------------------------------------------------------------


@router.get(
    "/checklists",
    tags=["checklists"],
    response_model=ChecklistPage,
    summary="The latest version of every checklist template",
)
async def list_checklists(page: Paging, templates: Templates, _: Reader) -> ChecklistPage:
    found = await templates.list_checklists(page)
    return ChecklistPage(
        items=[ChecklistOut.of(c) for c in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/checklists/{name}",
    tags=["checklists"],
    response_model=ChecklistOut,
    responses={404: {"model": Problem}},
    summary="A checklist template (latest, or ?version=N)",
)
async def get_checklist(
    name: str,
    templates: Templates,
    _: Reader,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> ChecklistOut:
    return ChecklistOut.of(await templates.get_checklist(name, version))


@router.get(
    "/checklists/{name}/versions",
    tags=["checklists"],
    response_model=ChecklistPage,
    responses={404: {"model": Problem}},
    summary="Every version of a checklist template",
)
async def list_checklist_versions(
    name: str, page: Paging, templates: Templates, _: Reader
) -> ChecklistPage:
    found = await templates.list_checklist_versions(name, page)
    return ChecklistPage(
        items=[ChecklistOut.of(c) for c in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.put(
    "/checklists/{name}",
    tags=["checklists"],
    status_code=status.HTTP_201_CREATED,
    response_model=ChecklistOut,
    summary="Publish the next version of a checklist template",
)
async def publish_checklist(
    name: str,
    body: ChecklistIn,
    templates: Templates,
    _: Publisher,
) -> ChecklistOut:
    return ChecklistOut.of(
        await templates.publish_checklist(
            name=name, title=body.title, items=[i.item() for i in body.items]
        )
    )


# --- schedules and coverage -----------------------------------------------------------------


@router.post(
    "/schedules",
    tags=["schedules"],
    status_code=status.HTTP_201_CREATED,
    response_model=ScheduleOut,
    responses={403: {"model": Problem}, 409: {"model": Problem}},
    summary="Plan recurring inspections of a target (e.g. a compound twice a week)",
)
async def plan_schedule(
    body: ScheduleIn,
    coverage: Coverage,
    principal: Planner,
) -> ScheduleOut:
    return ScheduleOut.of(
        await coverage.plan_schedule(
            target=TargetRef(body.target.kind, body.target.id),
            checklist=body.checklist,
            times_per_week=body.times_per_week,
            reach=reach_of(principal),
        )
    )


@router.get("/schedules", tags=["schedules"], response_model=SchedulePage, summary="Schedules")
async def list_schedules(
    page: Paging,
    coverage: Coverage,
    principal: Reader,
    grid_id: Annotated[str | None, Query(max_length=64)] = None,
) -> SchedulePage:
    found = await coverage.list_schedules(grid_id, page, reach_of(principal))
    return SchedulePage(
        items=[ScheduleOut.of(s) for s in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.delete(
    "/schedules/{schedule_id}",
    tags=["schedules"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": Problem}},
    summary="Stop a schedule",
)
async def stop_schedule(
    schedule_id: uuid.UUID,
    coverage: Coverage,
    principal: Planner,
) -> Response:
    await coverage.stop_schedule(schedule_id, reach_of(principal))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/coverage",
    tags=["schedules"],
    response_model=CoverageOut,
    responses={403: {"model": Problem}},
    summary="Due, done and missed inspections of a grid in one local week",
)
async def get_coverage(
    grid_id: Annotated[str, Query(min_length=1, max_length=64)],
    coverage: Coverage,
    principal: Reader,
    week: Annotated[
        date | None,
        Query(
            description="Any day of the week (local to the grid's community); defaults to this week"
        ),
    ] = None,
) -> CoverageOut:
    start, rows = await coverage.coverage(grid_id, week or datetime.now(UTC), reach_of(principal))
    over = schedule_rules.next_week(start) <= datetime.now(UTC)
    return CoverageOut.of(grid_id, start, over, rows)


# --- pest monitoring ------------------------------------------------------------------------


@router.post(
    "/pest-points",
    tags=["pest control"],
    status_code=status.HTTP_201_CREATED,
    response_model=PestPointOut,
    responses={403: {"model": Problem}, 409: {"model": Problem}},
    summary="Add a pest monitoring point",
)
async def add_pest_point(
    body: PestPointIn,
    pests: Pests,
    principal: Planner,
) -> PestPointOut:
    return PestPointOut.of(
        await pests.add_pest_point(
            id=body.id,
            community_id=body.community_id,
            grid_id=body.grid_id,
            name=body.name,
            location=body.location,
            compound_id=body.compound_id,
            responsible_id=body.responsible_id,
            responsible_kind=body.responsible_kind,
            reach=reach_of(principal),
        )
    )


@router.get(
    "/pest-points", tags=["pest control"], response_model=PestPointPage, summary="Monitoring points"
)
async def list_pest_points(
    page: Paging,
    pests: Pests,
    principal: Reader,
    grid_id: Annotated[str | None, Query(max_length=64)] = None,
) -> PestPointPage:
    found = await pests.list_pest_points(grid_id, page, reach_of(principal))
    return PestPointPage(
        items=[PestPointOut.of(p) for p in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/pest-points/{point_id}/readings",
    tags=["pest control"],
    status_code=status.HTTP_201_CREATED,
    response_model=ReadingOut,
    responses={404: {"model": Problem}},
    summary="Record a density reading; over its threshold it raises a failed finding",
)
async def record_reading(
    point_id: str,
    body: ReadingIn,
    pests: Pests,
    principal: Inspector,
) -> ReadingOut:
    reading, _ = await pests.record_reading(
        reading_id=body.id,
        point_id=point_id,
        pest=body.pest,
        density=body.density,
        measured_at=body.measured_at,
        recorded_by=principal.subject,
        reach=reach_of(principal),
    )
    return ReadingOut.of(reading)


@router.get(
    "/pest-points/{point_id}/readings",
    tags=["pest control"],
    response_model=ReadingPage,
    responses={404: {"model": Problem}},
    summary="Readings of a point, newest first",
)
async def list_readings(
    point_id: str,
    page: Paging,
    pests: Pests,
    principal: Reader,
) -> ReadingPage:
    found = await pests.list_readings(point_id, page, reach_of(principal))
    return ReadingPage(
        items=[ReadingOut.of(r) for r in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )
