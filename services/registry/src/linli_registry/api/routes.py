from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, status

from linli_registry.api.schemas import HouseholdIn, HouseholdOut
from linli_registry.domain.household import Member
from linli_registry.service.households import RegistryService
from linli_shared.auth import Principal, require_roles
from linli_shared.errors import Problem

router = APIRouter(tags=["households"])

STAFF = ("community_staff", "grid_worker")
READERS = (*STAFF, "inspector", "credit_officer", "service")


def registry_service(request: Request) -> RegistryService:
    service: RegistryService = request.app.state.service
    return service


@router.post(
    "/households",
    status_code=status.HTTP_201_CREATED,
    response_model=HouseholdOut,
    summary="Register a household",
)
async def register_household(
    body: HouseholdIn,
    service: RegistryService = Depends(registry_service),
    _: Principal = Depends(require_roles(*STAFF)),
) -> HouseholdOut:
    household = await service.register_household(
        community_id=body.community_id,
        grid_id=body.grid_id,
        address=body.address,
        members=[Member(name=m.name, relation=m.relation) for m in body.members],
        contact_email=str(body.contact_email),
    )
    return HouseholdOut.of(household)


@router.get(
    "/households/{household_id}",
    response_model=HouseholdOut,
    responses={404: {"model": Problem}},
    summary="A household by id",
)
async def get_household(
    household_id: uuid.UUID,
    service: RegistryService = Depends(registry_service),
    _: Principal = Depends(require_roles(*READERS)),
) -> HouseholdOut:
    return HouseholdOut.of(await service.get_household(household_id))
