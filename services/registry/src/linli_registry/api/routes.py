from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse

from linli_registry.adapters.repository import HouseholdFilter
from linli_registry.api.schemas import (
    BuildingIn,
    BuildingOut,
    CommunityChangeIn,
    CommunityIn,
    CommunityOut,
    CommunityPage,
    CompoundIn,
    CompoundOut,
    CompoundPage,
    ConsentChangeIn,
    DeregisterIn,
    GridIn,
    GridOut,
    GridPage,
    GridWorkerIn,
    HistoryOut,
    HouseholdContactIn,
    HouseholdIn,
    HouseholdOut,
    HouseholdPage,
    MembersIn,
    MoveIn,
    OrganisationChangeIn,
    OrganisationIn,
    OrganisationOut,
    OrganisationPage,
)
from linli_registry.domain.household import Contact, Household, Status
from linli_registry.domain.organisation import OrganisationKind
from linli_registry.domain.personal import validate_id_number
from linli_registry.service.households import ConsentInput, PossibleDuplicate, RegistryService
from linli_shared.audit import mark_personal_data_read, mark_subjects_revealed
from linli_shared.auth import Principal, require_roles
from linli_shared.errors import Problem, ProblemError, problem_response
from linli_shared.pagination import PageRequest, page_request
from linli_shared.reach import reach_of, require_grid

router = APIRouter()

STAFF = ("community_staff", "grid_worker")
READERS = (*STAFF, "inspector", "credit_officer", "service")
reader = require_roles(*READERS)
staff = require_roles(*STAFF)
# Who may see ID numbers and phones unmasked (with ?reveal=true); issue 7 refines the matrix.
REVEALERS = ("community_staff", "admin")

CONFLICTS: dict[int | str, dict[str, object]] = {
    404: {"model": Problem},
    409: {"model": Problem, "description": "Stale version: read again and reapply"},
}


# Grid reach (linli_shared.reach): outside a grid-bound caller's grids a household, grid,
# compound or organisation is not found (404, for reads and writes alike: its existence is not
# revealed); naming a grid outside them in a write (register into it, move to it) is 403.


async def registry_service(request: Request) -> RegistryService:
    service: RegistryService = request.app.state.service
    return service


async def revealing(
    request: Request,
    reveal: bool = Query(
        default=False, description="Show ID numbers and phones unmasked (community staff only)"
    ),
    reason: str | None = Query(
        default=None,
        min_length=2,
        max_length=120,
        description="Why the data is revealed (kept with the reveal in the audit trail)",
    ),
    principal: Principal = Depends(reader),
) -> bool:
    if reveal and not (principal.roles & set(REVEALERS)):
        raise HTTPException(403, "only community staff may reveal personal data")
    if reveal:
        # The audit trail records it; its details keep the query, the reason given included.
        mark_personal_data_read(request, request.url.path)
    return reveal


def _duplicate_response(request: Request, error: PossibleDuplicate) -> JSONResponse:
    return problem_response(
        request,
        error.status,
        error.slug,
        error.title,
        error.detail,
        candidates=[
            {"household_id": str(c.household_id), "reasons": list(c.reasons)}
            for c in error.candidates
        ],
        **({"outside_your_grids": True} if error.elsewhere else {}),
    )


# --- households -----------------------------------------------------------------------------


@router.post(
    "/households",
    tags=["households"],
    status_code=status.HTTP_201_CREATED,
    response_model=HouseholdOut,
    response_model_exclude_none=True,
    responses={409: {"model": Problem, "description": "Possible duplicate (with candidates)"}},
    summary="Register a household",
)
async def register_household(
    body: HouseholdIn,
    request: Request,
    service: RegistryService = Depends(registry_service),
    principal: Principal = Depends(staff),
) -> HouseholdOut | JSONResponse:
    require_grid(principal, body.grid_id)
    try:
        household = await service.register_household(
            community_id=body.community_id,
            grid_id=body.grid_id,
            address=body.address,
            members=[m.member() for m in body.members],
            contact_email=str(body.contact_email),
            compound_id=body.compound_id,
            building_id=body.building_id,
            contact_phone=body.contact_phone,
            preferred_channels=tuple(body.preferred_channels),
            consent=(
                ConsentInput(body.consent.integrity_scoring, list(body.consent.notice_channels))
                if body.consent
                else None
            ),
            allow_duplicate=body.allow_duplicate,
            registered_by=principal.subject,
            reach=reach_of(principal),
        )
    except PossibleDuplicate as error:
        return _duplicate_response(request, error)
    return HouseholdOut.of(household, reveal=False)


@router.get(
    "/households",
    tags=["households"],
    response_model=HouseholdPage,
    response_model_exclude_none=True,
    summary="Search households (filters combine; paginated)",
)
async def search_households(
    request: Request,
    community_id: str | None = Query(default=None, max_length=64),
    grid_id: str | None = Query(default=None, max_length=64),
    compound_id: str | None = Query(default=None, max_length=64),
    name: str | None = Query(default=None, min_length=1, max_length=200, description="A member"),
    address: str | None = Query(default=None, min_length=1, max_length=500),
    id_number: str | None = Query(
        default=None,
        min_length=1,
        max_length=32,
        description="A member's whole ID number (exact match; every search by it is audited)",
    ),
    id_tail: str | None = Query(
        default=None,
        pattern=r"^[0-9Xx]{4}$",
        description="Last four of a member's ID number (roles that may reveal only; audited)",
    ),
    household_status: Status | None = Query(default=Status.ACTIVE, alias="status"),
    page: PageRequest = Depends(page_request),
    reveal: bool = Depends(revealing),
    service: RegistryService = Depends(registry_service),
    principal: Principal = Depends(reader),
) -> HouseholdPage:
    if id_tail is not None and not principal.roles & set(REVEALERS):
        # The tail and what the mask shows would leave few enough candidates to try them all.
        raise ProblemError(
            403,
            "forbidden",
            "Forbidden",
            "id_tail: only roles that may reveal personal data may search by the tail of an "
            "ID number; search by the whole number with id_number",
        )
    if id_number is not None:
        id_number = validate_id_number(id_number, "id_number")
    if id_number is not None or id_tail is not None:
        # A search by an ID number is a lookup of personal data: the trail shows who tried what.
        mark_personal_data_read(request, request.url.path)
    found = await service.search_households(
        HouseholdFilter(
            community_id=community_id,
            grid_id=grid_id,
            compound_id=compound_id,
            name=name,
            address=address,
            id_number=id_number,
            id_tail=id_tail,
            status=household_status,
        ),
        page,
        reach_of(principal),
    )
    if reveal:
        mark_subjects_revealed(request, (h.id for h in found.items))
    return HouseholdPage(
        items=[HouseholdOut.of(h, reveal) for h in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/households/{household_id}",
    tags=["households"],
    response_model=HouseholdOut,
    response_model_exclude_none=True,
    responses={404: {"model": Problem}},
    summary="A household by id",
)
async def get_household(
    household_id: uuid.UUID,
    reveal: bool = Depends(revealing),
    service: RegistryService = Depends(registry_service),
    principal: Principal = Depends(reader),
) -> HouseholdOut:
    return HouseholdOut.of(await service.get_household(household_id, reach_of(principal)), reveal)


@router.get(
    "/households/{household_id}/history",
    tags=["households"],
    response_model=list[HistoryOut],
    responses={404: {"model": Problem}},
    summary="Every version of a household, oldest first",
)
async def household_history(
    household_id: uuid.UUID,
    service: RegistryService = Depends(registry_service),
    principal: Principal = Depends(staff),
) -> list[HistoryOut]:
    entries = await service.household_history(household_id, reach_of(principal))
    return [HistoryOut.of(entry) for entry in entries]


def _changed(household: Household) -> HouseholdOut:
    return HouseholdOut.of(household, reveal=False)


@router.post(
    "/households/{household_id}/move",
    tags=["households"],
    response_model=HouseholdOut,
    response_model_exclude_none=True,
    responses=CONFLICTS,
    summary="The household moves (new address, grid, compound)",
)
async def move_household(
    household_id: uuid.UUID,
    body: MoveIn,
    service: RegistryService = Depends(registry_service),
    principal: Principal = Depends(staff),
) -> HouseholdOut:
    require_grid(principal, body.grid_id)
    return _changed(
        await service.move_household(
            household_id,
            version=body.version,
            grid_id=body.grid_id,
            address=body.address,
            compound_id=body.compound_id,
            building_id=body.building_id,
            changed_by=principal.subject,
            reach=reach_of(principal),
        )
    )


@router.put(
    "/households/{household_id}/members",
    tags=["households"],
    response_model=HouseholdOut,
    response_model_exclude_none=True,
    responses=CONFLICTS,
    summary="Replace the household's members",
)
async def change_members(
    household_id: uuid.UUID,
    body: MembersIn,
    request: Request,
    service: RegistryService = Depends(registry_service),
    principal: Principal = Depends(staff),
) -> HouseholdOut | JSONResponse:
    try:
        household = await service.change_members(
            household_id,
            version=body.version,
            members=[m.member() for m in body.members],
            allow_duplicate=body.allow_duplicate,
            changed_by=principal.subject,
            reach=reach_of(principal),
        )
    except PossibleDuplicate as error:
        return _duplicate_response(request, error)
    return _changed(household)


@router.put(
    "/households/{household_id}/contact",
    tags=["households"],
    response_model=HouseholdOut,
    response_model_exclude_none=True,
    responses=CONFLICTS,
    summary="Change how the household is reached",
)
async def change_contact(
    household_id: uuid.UUID,
    body: HouseholdContactIn,
    service: RegistryService = Depends(registry_service),
    principal: Principal = Depends(staff),
) -> HouseholdOut:
    return _changed(
        await service.change_contact(
            household_id,
            version=body.version,
            contact=Contact(str(body.email), body.phone, tuple(body.preferred_channels)),
            changed_by=principal.subject,
            reach=reach_of(principal),
        )
    )


@router.put(
    "/households/{household_id}/consent",
    tags=["households"],
    response_model=HouseholdOut,
    response_model_exclude_none=True,
    responses=CONFLICTS,
    summary="Record the household's consent (scoring, notice channels): who and when are kept",
)
async def change_consent(
    household_id: uuid.UUID,
    body: ConsentChangeIn,
    service: RegistryService = Depends(registry_service),
    principal: Principal = Depends(staff),
) -> HouseholdOut:
    return _changed(
        await service.change_consent(
            household_id,
            version=body.version,
            integrity_scoring=body.integrity_scoring,
            notice_channels=list(body.notice_channels),
            recorded_by=principal.subject,
            reach=reach_of(principal),
        )
    )


@router.post(
    "/households/{household_id}/deregister",
    tags=["households"],
    response_model=HouseholdOut,
    response_model_exclude_none=True,
    responses=CONFLICTS,
    summary="Deregister the household (it stays on record, read-only)",
)
async def deregister_household(
    household_id: uuid.UUID,
    body: DeregisterIn,
    service: RegistryService = Depends(registry_service),
    principal: Principal = Depends(staff),
) -> HouseholdOut:
    return _changed(
        await service.deregister_household(
            household_id,
            version=body.version,
            reason=body.reason,
            changed_by=principal.subject,
            reach=reach_of(principal),
        )
    )


# --- places ---------------------------------------------------------------------------------


@router.post(
    "/communities",
    tags=["places"],
    status_code=status.HTTP_201_CREATED,
    response_model=CommunityOut,
    responses={409: {"model": Problem}},
    summary="Create a community",
)
async def create_community(
    body: CommunityIn,
    service: RegistryService = Depends(registry_service),
    _: Principal = Depends(require_roles("community_staff")),
) -> CommunityOut:
    return CommunityOut.of(
        await service.create_community(id=body.id, name=body.name, time_zone=body.time_zone)
    )


@router.put(
    "/communities/{community_id}",
    tags=["places"],
    response_model=CommunityOut,
    responses={404: {"model": Problem}},
    summary="Rename a community or change its time zone",
)
async def change_community(
    community_id: str,
    body: CommunityChangeIn,
    service: RegistryService = Depends(registry_service),
    _: Principal = Depends(require_roles("community_staff")),
) -> CommunityOut:
    return CommunityOut.of(
        await service.change_community(community_id, name=body.name, time_zone=body.time_zone)
    )


@router.get("/communities", tags=["places"], response_model=CommunityPage, summary="Communities")
async def list_communities(
    page: PageRequest = Depends(page_request),
    service: RegistryService = Depends(registry_service),
    _: Principal = Depends(reader),
) -> CommunityPage:
    found = await service.communities(page)
    return CommunityPage(
        items=[CommunityOut.of(c) for c in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/grids",
    tags=["places"],
    status_code=status.HTTP_201_CREATED,
    response_model=GridOut,
    responses={409: {"model": Problem}},
    summary="Create a grid with its grid worker",
)
async def create_grid(
    body: GridIn,
    service: RegistryService = Depends(registry_service),
    _: Principal = Depends(require_roles("community_staff")),
) -> GridOut:
    return GridOut.of(
        await service.create_grid(
            id=body.id,
            community_id=body.community_id,
            name=body.name,
            worker_id=body.worker_id,
            worker_name=body.worker_name,
        )
    )


@router.put(
    "/grids/{grid_id}/worker",
    tags=["places"],
    response_model=GridOut,
    responses={404: {"model": Problem}},
    summary="Assign the grid's worker",
)
async def assign_grid_worker(
    grid_id: str,
    body: GridWorkerIn,
    service: RegistryService = Depends(registry_service),
    _: Principal = Depends(require_roles("community_staff")),
) -> GridOut:
    return GridOut.of(
        await service.assign_grid_worker(
            grid_id, worker_id=body.worker_id, worker_name=body.worker_name
        )
    )


@router.get("/grids", tags=["places"], response_model=GridPage, summary="Grids")
async def list_grids(
    community_id: str | None = Query(default=None, max_length=64),
    page: PageRequest = Depends(page_request),
    service: RegistryService = Depends(registry_service),
    principal: Principal = Depends(reader),
) -> GridPage:
    found = await service.grids(community_id, page, reach_of(principal))
    return GridPage(
        items=[GridOut.of(g) for g in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/grids/{grid_id}",
    tags=["places"],
    response_model=GridOut,
    responses={404: {"model": Problem}},
    summary="A grid",
)
async def get_grid(
    grid_id: str,
    service: RegistryService = Depends(registry_service),
    principal: Principal = Depends(reader),
) -> GridOut:
    return GridOut.of(await service.get_grid(grid_id, reach_of(principal)))


@router.post(
    "/compounds",
    tags=["places"],
    status_code=status.HTTP_201_CREATED,
    response_model=CompoundOut,
    response_model_exclude_none=True,
    responses={409: {"model": Problem}},
    summary="Create a residential compound",
)
async def create_compound(
    body: CompoundIn,
    service: RegistryService = Depends(registry_service),
    _: Principal = Depends(require_roles("community_staff")),
) -> CompoundOut:
    return CompoundOut.of(
        await service.create_compound(
            id=body.id,
            community_id=body.community_id,
            grid_id=body.grid_id,
            name=body.name,
            address=body.address,
        )
    )


@router.get(
    "/compounds",
    tags=["places"],
    response_model=CompoundPage,
    response_model_exclude_none=True,
    summary="Compounds",
)
async def list_compounds(
    community_id: str | None = Query(default=None, max_length=64),
    grid_id: str | None = Query(default=None, max_length=64),
    page: PageRequest = Depends(page_request),
    service: RegistryService = Depends(registry_service),
    principal: Principal = Depends(reader),
) -> CompoundPage:
    found = await service.compounds(community_id, grid_id, page, reach_of(principal))
    return CompoundPage(
        items=[CompoundOut.of(c) for c in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/compounds/{compound_id}",
    tags=["places"],
    response_model=CompoundOut,
    responses={404: {"model": Problem}},
    summary="A compound with its buildings",
)
async def get_compound(
    compound_id: str,
    service: RegistryService = Depends(registry_service),
    principal: Principal = Depends(reader),
) -> CompoundOut:
    compound, buildings = await service.get_compound(compound_id, reach_of(principal))
    return CompoundOut.of(compound, buildings)


@router.post(
    "/buildings",
    tags=["places"],
    status_code=status.HTTP_201_CREATED,
    response_model=BuildingOut,
    responses={409: {"model": Problem}},
    summary="Add a building to a compound",
)
async def create_building(
    body: BuildingIn,
    service: RegistryService = Depends(registry_service),
    _: Principal = Depends(require_roles("community_staff")),
) -> BuildingOut:
    return BuildingOut.of(
        await service.create_building(id=body.id, compound_id=body.compound_id, name=body.name)
    )


# --- organisations --------------------------------------------------------------------------


def _contact(body: OrganisationIn | OrganisationChangeIn) -> Contact:
    contact = body.contact
    return Contact(
        str(contact.email) if contact.email else None,
        contact.phone,
        tuple(contact.preferred_channels),
    )


@router.post(
    "/organisations",
    tags=["organisations"],
    status_code=status.HTTP_201_CREATED,
    response_model=OrganisationOut,
    summary="Register a property manager, shop or unit",
)
async def register_organisation(
    body: OrganisationIn,
    service: RegistryService = Depends(registry_service),
    principal: Principal = Depends(staff),
) -> OrganisationOut:
    require_grid(principal, body.grid_id)
    return OrganisationOut.of(
        await service.register_organisation(
            kind=body.kind,
            name=body.name,
            community_id=body.community_id,
            grid_id=body.grid_id,
            compound_ids=body.compound_ids,
            frontage_segments=body.frontage_segments,
            contact=_contact(body),
            reach=reach_of(principal),
        )
    )


@router.put(
    "/organisations/{organisation_id}",
    tags=["organisations"],
    response_model=OrganisationOut,
    responses=CONFLICTS,
    summary="Change an organisation (its compounds, segments, contact)",
)
async def change_organisation(
    organisation_id: uuid.UUID,
    body: OrganisationChangeIn,
    service: RegistryService = Depends(registry_service),
    principal: Principal = Depends(staff),
) -> OrganisationOut:
    require_grid(principal, body.grid_id)
    return OrganisationOut.of(
        await service.change_organisation(
            organisation_id,
            version=body.version,
            name=body.name,
            grid_id=body.grid_id,
            compound_ids=body.compound_ids,
            frontage_segments=body.frontage_segments,
            contact=_contact(body),
            reach=reach_of(principal),
        )
    )


@router.get(
    "/organisations/{organisation_id}",
    tags=["organisations"],
    response_model=OrganisationOut,
    responses={404: {"model": Problem}},
    summary="An organisation by id",
)
async def get_organisation(
    organisation_id: uuid.UUID,
    reveal: bool = Depends(revealing),
    service: RegistryService = Depends(registry_service),
    principal: Principal = Depends(reader),
) -> OrganisationOut:
    organisation = await service.get_organisation(organisation_id, reach_of(principal))
    return OrganisationOut.of(organisation, reveal)


@router.get(
    "/organisations",
    tags=["organisations"],
    response_model=OrganisationPage,
    summary="Search organisations",
)
async def search_organisations(
    request: Request,
    kind: OrganisationKind | None = None,
    community_id: str | None = Query(default=None, max_length=64),
    grid_id: str | None = Query(default=None, max_length=64),
    name: str | None = Query(default=None, min_length=1, max_length=200),
    page: PageRequest = Depends(page_request),
    reveal: bool = Depends(revealing),
    service: RegistryService = Depends(registry_service),
    principal: Principal = Depends(reader),
) -> OrganisationPage:
    found = await service.search_organisations(
        kind=kind,
        community_id=community_id,
        grid_id=grid_id,
        name=name,
        page=page,
        reach=reach_of(principal),
    )
    if reveal:
        mark_subjects_revealed(request, (o.id for o in found.items))
    return OrganisationPage(
        items=[OrganisationOut.of(o, reveal) for o in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )
