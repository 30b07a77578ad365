from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, Response, status

from linli_inspections.api.schemas import InspectionIn, InspectionOut
from linli_inspections.domain.inspection import Finding
from linli_inspections.service.inspections import InspectionsService
from linli_shared.auth import Principal, require_roles
from linli_shared.errors import Problem

router = APIRouter(tags=["inspections"])

INSPECTORS = ("inspector", "grid_worker")
READERS = (*INSPECTORS, "community_staff", "credit_officer", "service")


def inspections_service(request: Request) -> InspectionsService:
    service: InspectionsService = request.app.state.service
    return service


@router.post(
    "/inspections",
    status_code=status.HTTP_201_CREATED,
    response_model=InspectionOut,
    summary="Record an inspection; any failed finding fails it",
    responses={
        200: {"model": InspectionOut, "description": "Already recorded with this id"},
        409: {"model": Problem, "description": "This id was recorded with other content"},
    },
)
async def record_inspection(
    body: InspectionIn,
    response: Response,
    service: InspectionsService = Depends(inspections_service),
    principal: Principal = Depends(require_roles(*INSPECTORS)),
) -> InspectionOut:
    inspection, created = await service.record_inspection(
        inspection_id=body.id,
        subject_id=body.subject_id,
        subject_kind=body.subject_kind,
        checklist=body.checklist,
        inspector_id=principal.subject,
        inspected_at=body.inspected_at,
        findings=[
            Finding(item=f.item, passed=f.passed, severity=f.severity, note=f.note)
            for f in body.findings
        ],
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return InspectionOut.of(inspection)


@router.get(
    "/inspections/{inspection_id}",
    response_model=InspectionOut,
    responses={404: {"model": Problem}},
    summary="An inspection by id",
)
async def get_inspection(
    inspection_id: uuid.UUID,
    service: InspectionsService = Depends(inspections_service),
    _: Principal = Depends(require_roles(*READERS)),
) -> InspectionOut:
    return InspectionOut.of(await service.get_inspection(inspection_id))
