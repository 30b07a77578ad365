from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse

from linli_registry.api import export_page
from linli_registry.api.deps import (
    REVEALERS,
    AccessHandler,
    AccessRequests,
    CallerHousehold,
    Changes,
    ConsentRecorder,
    Disclosure,
    Eraser,
    Erasures,
    History,
    HouseholdReader,
    HouseholdReading,
    KeyReader,
    Office,
    OrganisationReader,
    Organisations,
    Paging,
    Reader,
    Registration,
    Resident,
    Reveal,
    Staff,
    SubjectKeys,
    Territory,
)
from linli_registry.api.schemas import (
    AccessExportOut,
    AccessRequestIn,
    AccessRequestOut,
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
    DataCopyOut,
    DeregisterIn,
    ErasureIn,
    ErasureOut,
    GridIn,
    GridOut,
    GridPage,
    GridWorkerIn,
    HistoryOut,
    HistoryPage,
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
    SubjectKeyOut,
    SubjectKeysOut,
)
from linli_registry.domain.household import Contact, Household, Status
from linli_registry.domain.organisation import OrganisationKind
from linli_registry.domain.personal import validate_id_number
from linli_registry.domain.records import HouseholdFilter
from linli_registry.service.recording import PossibleDuplicate
from linli_registry.service.registration import ConsentInput
from linli_shared.audit import audit_readable, mark_personal_data_read, mark_subjects_revealed
from linli_shared.auth import RESIDENT_ROLES
from linli_shared.errors import Problem, ProblemError, problem_response
from linli_shared.reach import reach_of, require_grid
from linli_shared.rules import RuleViolation
from linli_shared.subject_keys import SUBJECT_KEYS_PER_READ

router = APIRouter()

CONFLICTS: dict[int | str, dict[str, object]] = {
    404: {"model": Problem},
    409: {"model": Problem, "description": "Stale version: read again and reapply"},
}


# Grid reach (linli_shared.reach): outside a grid-bound caller's grids a household, grid,
# compound or organisation is not found (404, for reads and writes alike: its existence is not
# revealed); naming a grid outside them in a write (register into it, move to it) is 403. A
# resident reaches only their own household, a property manager or shop only its organisation
# and the compounds it manages: anything else is not found and searches leave it out.


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
    registration: Registration,
    principal: Staff,
) -> HouseholdOut | JSONResponse:
    require_grid(principal, body.grid_id)
    try:
        household = await registration.register_household(
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
    # A reveal's trail entry keeps these in clear; a name, an address, an ID number or its tail
    # only as keyed hashes (docs/privacy.md, "The audit trail").
    openapi_extra=audit_readable("community_id", "grid_id", "compound_id", "status"),
)
async def search_households(
    request: Request,
    *,
    community_id: Annotated[str | None, Query(max_length=64)] = None,
    grid_id: Annotated[str | None, Query(max_length=64)] = None,
    compound_id: Annotated[str | None, Query(max_length=64)] = None,
    name: Annotated[str | None, Query(min_length=1, max_length=200, description="A member")] = None,
    address: Annotated[str | None, Query(min_length=1, max_length=500)] = None,
    id_number: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=32,
            description="A member's whole ID number (exact match; every search by it is audited)",
        ),
    ] = None,
    id_tail: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9Xx]{4}$",
            description="Last four of a member's ID number (roles that may reveal only; audited)",
        ),
    ] = None,
    household_status: Annotated[Status | None, Query(alias="status")] = Status.ACTIVE,
    page: Paging,
    reveal: Reveal,
    disclosure: Disclosure,
    principal: HouseholdReader,
    household: CallerHousehold,
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
    found = await disclosure.search_households(
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
        reach_of(principal, household),
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
    summary="A household by id (a resident: their own)",
)
async def get_household(household_id: uuid.UUID, caller: HouseholdReading) -> HouseholdOut:
    return HouseholdOut.of(
        await caller.disclosure.get_household(household_id, caller.reach), caller.reveal
    )


@router.get(
    "/households/{household_id}/history",
    tags=["households"],
    response_model=HistoryPage,
    responses={404: {"model": Problem}},
    summary="Every version of a household, oldest first (paginated)",
)
async def list_household_history(
    household_id: uuid.UUID,
    page: Paging,
    history: History,
    principal: Staff,
) -> HistoryPage:
    found = await history.household_history(household_id, page, reach_of(principal))
    return HistoryPage(
        items=[HistoryOut.of(entry) for entry in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/residents/{resident_id}/data-copy",
    tags=["residents"],
    response_model=DataCopyOut,
    responses={404: {"model": Problem}},
    summary="A copy of what the registry holds about a resident, for the resident (audited)",
    description="The resident's own member record unmasked, their household (the other "
    "members masked) and its every version. A resident asks for their own only: any other "
    "resident id is 404. Every copy is a `personal-data-read` in the audit trail.",
)
async def get_data_copy(
    resident_id: uuid.UUID,
    request: Request,
    disclosure: Disclosure,
    principal: Resident,
    household: CallerHousehold,
) -> DataCopyOut:
    copy = await disclosure.data_copy(resident_id, reach_of(principal, household))
    mark_personal_data_read(request, request.url.path)
    mark_subjects_revealed(request, [copy.household.id])
    return DataCopyOut.of(copy)


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
    changes: Changes,
    principal: Staff,
) -> HouseholdOut:
    require_grid(principal, body.grid_id)
    return _changed(
        await changes.move_household(
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
async def change_household_members(
    household_id: uuid.UUID,
    body: MembersIn,
    request: Request,
    changes: Changes,
    principal: Staff,
) -> HouseholdOut | JSONResponse:
    try:
        household = await changes.change_members(
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
async def change_household_contact(
    household_id: uuid.UUID,
    body: HouseholdContactIn,
    changes: Changes,
    principal: Staff,
) -> HouseholdOut:
    return _changed(
        await changes.change_contact(
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
    description="Staff record it for the household; a resident records their own household's "
    "(kept as `resident:<resident id>`).",
)
async def change_household_consent(
    household_id: uuid.UUID,
    body: ConsentChangeIn,
    changes: Changes,
    principal: ConsentRecorder,
    household: CallerHousehold,
) -> HouseholdOut:
    recorded_by = principal.subject
    if principal.roles & RESIDENT_ROLES and principal.resident_id is not None:
        recorded_by = f"resident:{principal.resident_id}"
    return _changed(
        await changes.change_consent(
            household_id,
            version=body.version,
            integrity_scoring=body.integrity_scoring,
            notice_channels=list(body.notice_channels),
            recorded_by=recorded_by,
            reach=reach_of(principal, household),
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
    changes: Changes,
    principal: Staff,
) -> HouseholdOut:
    return _changed(
        await changes.deregister_household(
            household_id,
            version=body.version,
            reason=body.reason,
            changed_by=principal.subject,
            reach=reach_of(principal),
        )
    )


@router.post(
    "/households/{household_id}/erasures",
    tags=["households"],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ErasureOut,
    responses={404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}},
    summary="Erase a resident, or the whole household, here and in every service (irreversible)",
    description="The registry erases its records at once (the member, or the household's "
    "address, contact and members, in every version of its history) and asks every service to "
    "remove its copies; the erasure is `completed` once all have answered "
    "(`GET /erasures/{id}`). The head of a registered household is erased only once another "
    "member is head. See docs/privacy.md.",
)
async def erase(
    household_id: uuid.UUID,
    body: ErasureIn,
    erasures: Erasures,
    principal: Eraser,
) -> ErasureOut:
    erasure = await erasures.erase(
        household_id,
        resident_id=body.resident_id,
        reason=body.reason,
        requested_by=principal.subject,
        reach=reach_of(principal),
    )
    return ErasureOut.of(erasure)


@router.get(
    "/erasures/{erasure_id}",
    tags=["households"],
    response_model=ErasureOut,
    responses={404: {"model": Problem}},
    summary="An erasure: what each service removed, and who has not answered yet",
)
async def get_erasure(erasure_id: uuid.UUID, erasures: Erasures, principal: Eraser) -> ErasureOut:
    return ErasureOut.of(await erasures.get(erasure_id, reach_of(principal)))


# --- access and copy ------------------------------------------------------------------------


@router.post(
    "/access-requests",
    tags=["residents"],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AccessRequestOut,
    responses={404: {"model": Problem}, 422: {"model": Problem}},
    summary="Start a resident's data-subject request: what every service holds about them",
    description="The resident is named by `resident_id` or by their exact `id_number`. The "
    "registry adds its own records at once and asks every service for theirs (sealed to a key "
    "of this request alone); the request is `completed` once all have answered "
    "(`GET /access-requests/{id}`), and its export lists every record with its purpose and "
    "retention. Outside a grid worker's grids the resident is not found. See docs/privacy.md.",
)
async def request_access(
    body: AccessRequestIn,
    request: Request,
    access: AccessRequests,
    principal: AccessHandler,
) -> AccessRequestOut:
    if (body.resident_id is None) == (body.id_number is None):
        raise RuleViolation("resident_id", "name the resident by resident_id or by id_number")
    id_number = None if body.id_number is None else validate_id_number(body.id_number, "id_number")
    if id_number is not None:
        # A lookup by an ID number is a lookup of personal data: the trail shows who tried what.
        mark_personal_data_read(request, request.url.path)
    started = await access.request(
        resident_id=body.resident_id,
        id_number=id_number,
        reason=body.reason,
        requested_by=principal.subject,
        reach=reach_of(principal),
    )
    return AccessRequestOut.of(started)


@router.get(
    "/access-requests/{request_id}",
    tags=["residents"],
    response_model=AccessRequestOut,
    responses={404: {"model": Problem}},
    summary="An access request: which services have answered, with how many records",
)
async def get_access_request(
    request_id: uuid.UUID, access: AccessRequests, principal: AccessHandler
) -> AccessRequestOut:
    return AccessRequestOut.of(await access.get(request_id, reach_of(principal)))


async def _export(
    request_id: uuid.UUID,
    request: Request,
    response: Response,
    access: AccessRequests,
    principal: AccessHandler,
) -> AccessExportOut:
    export = AccessExportOut.of(await access.export(request_id, reach_of(principal)))
    mark_personal_data_read(request, request.url.path)
    mark_subjects_revealed(request, [export.request.household_id])
    response.headers["Cache-Control"] = "no-store"
    return export


@router.get(
    "/access-requests/{request_id}/export",
    tags=["residents"],
    response_model=AccessExportOut,
    responses={404: {"model": Problem}},
    summary="The export of an access request: every record, its purpose and retention (audited)",
    description="Every record each service holds about the resident (the resident's own "
    "member record unmasked), as far as the services have answered. Every read is a "
    "`personal-data-read` in the audit trail.",
)
async def get_access_export(
    request_id: uuid.UUID,
    request: Request,
    response: Response,
    access: AccessRequests,
    principal: AccessHandler,
) -> AccessExportOut:
    return await _export(request_id, request, response, access, principal)


@router.get(
    "/access-requests/{request_id}/export.html",
    tags=["residents"],
    response_class=HTMLResponse,
    responses={404: {"model": Problem}},
    summary="The export as a page in zh-CN, for the resident (audited)",
)
async def get_access_export_page(
    request_id: uuid.UUID,
    request: Request,
    response: Response,
    access: AccessRequests,
    principal: AccessHandler,
) -> HTMLResponse:
    export = await _export(request_id, request, response, access, principal)
    return HTMLResponse(export_page.render(export), headers={"Cache-Control": "no-store"})


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
    territory: Territory,
    _: Office,
) -> CommunityOut:
    return CommunityOut.of(
        await territory.create_community(id=body.id, name=body.name, time_zone=body.time_zone)
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
    territory: Territory,
    _: Office,
) -> CommunityOut:
    return CommunityOut.of(
        await territory.change_community(community_id, name=body.name, time_zone=body.time_zone)
    )


@router.get("/communities", tags=["places"], response_model=CommunityPage, summary="Communities")
async def list_communities(
    page: Paging,
    territory: Territory,
    _: Reader,
) -> CommunityPage:
    found = await territory.communities(page)
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
    territory: Territory,
    _: Office,
) -> GridOut:
    return GridOut.of(
        await territory.create_grid(
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
    territory: Territory,
    _: Office,
) -> GridOut:
    return GridOut.of(
        await territory.assign_grid_worker(
            grid_id, worker_id=body.worker_id, worker_name=body.worker_name
        )
    )


@router.get("/grids", tags=["places"], response_model=GridPage, summary="Grids")
async def list_grids(
    *,
    community_id: Annotated[str | None, Query(max_length=64)] = None,
    page: Paging,
    territory: Territory,
    principal: Reader,
) -> GridPage:
    found = await territory.grids(community_id, page, reach_of(principal))
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
    territory: Territory,
    principal: Reader,
) -> GridOut:
    return GridOut.of(await territory.get_grid(grid_id, reach_of(principal)))


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
    territory: Territory,
    _: Office,
) -> CompoundOut:
    return CompoundOut.of(
        await territory.create_compound(
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
    *,
    community_id: Annotated[str | None, Query(max_length=64)] = None,
    grid_id: Annotated[str | None, Query(max_length=64)] = None,
    page: Paging,
    territory: Territory,
    principal: OrganisationReader,
) -> CompoundPage:
    found = await territory.compounds(community_id, grid_id, page, reach_of(principal))
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
    territory: Territory,
    principal: OrganisationReader,
) -> CompoundOut:
    compound, buildings = await territory.get_compound(compound_id, reach_of(principal))
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
    territory: Territory,
    _: Office,
) -> BuildingOut:
    return BuildingOut.of(
        await territory.create_building(id=body.id, compound_id=body.compound_id, name=body.name)
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
    organisations: Organisations,
    principal: Staff,
) -> OrganisationOut:
    require_grid(principal, body.grid_id)
    return OrganisationOut.of(
        await organisations.register_organisation(
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
    organisations: Organisations,
    principal: Staff,
) -> OrganisationOut:
    require_grid(principal, body.grid_id)
    return OrganisationOut.of(
        await organisations.change_organisation(
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
    reveal: Reveal,
    organisations: Organisations,
    principal: OrganisationReader,
) -> OrganisationOut:
    organisation = await organisations.get_organisation(organisation_id, reach_of(principal))
    return OrganisationOut.of(organisation, reveal)


@router.get(
    "/organisations",
    tags=["organisations"],
    response_model=OrganisationPage,
    summary="Search organisations",
    # Not the name: a sole trader's shop is named after them.
    openapi_extra=audit_readable("kind", "community_id", "grid_id"),
)
async def search_organisations(
    request: Request,
    *,
    kind: OrganisationKind | None = None,
    community_id: Annotated[str | None, Query(max_length=64)] = None,
    grid_id: Annotated[str | None, Query(max_length=64)] = None,
    name: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    page: Paging,
    reveal: Reveal,
    organisations: Organisations,
    principal: OrganisationReader,
) -> OrganisationPage:
    found = await organisations.search_organisations(
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


@router.get(
    "/subject-keys/{subject_id}",
    tags=["subject keys"],
    response_model=SubjectKeyOut,
    responses={404: {"model": Problem}, 410: {"model": Problem}},
    summary="A subject's key (notify's worker only)",
    description=(
        "The key the personal data of a household, resident or organisation travel sealed under "
        "in `linli.registry.v1` events. Only the `key_reader` role (notify's worker) may read it, "
        "not even admins; each read is audited. 410 once the key was destroyed (the subject was "
        "erased): what was sealed under it cannot be opened. Not to be cached beyond a short time."
    ),
)
async def get_subject_key(
    subject_id: uuid.UUID,
    request: Request,
    response: Response,
    keys: SubjectKeys,
    principal: KeyReader,
) -> SubjectKeyOut:
    mark_personal_data_read(request, f"subject-key/{subject_id}")
    response.headers["Cache-Control"] = "no-store"
    return SubjectKeyOut.of(await keys.key_of(subject_id))


@router.get(
    "/subject-keys",
    tags=["subject keys"],
    response_model=SubjectKeysOut,
    summary="Several subjects' keys at once (the key readers only)",
    description=(
        "The keys of up to "
        f"{SUBJECT_KEYS_PER_READ} subjects (a household and its members, whose joint key an "
        "inspector's note is sealed under), in one read: each subject's key, or that it was "
        "destroyed (the single read's 410), or that the registry holds none (its 404). Only the "
        "`key_reader` role may read them, not even admins; the read is audited once, naming "
        "every subject asked for. Not to be cached beyond a short time."
    ),
    openapi_extra=audit_readable("subject_id"),
)
async def get_subject_keys(
    subject_id: Annotated[list[uuid.UUID], Query(min_length=1, max_length=SUBJECT_KEYS_PER_READ)],
    request: Request,
    response: Response,
    keys: SubjectKeys,
    principal: KeyReader,
) -> SubjectKeysOut:
    mark_personal_data_read(request, "subject-keys")
    mark_subjects_revealed(request, dict.fromkeys(subject_id))
    response.headers["Cache-Control"] = "no-store"
    return SubjectKeysOut.of(await keys.keys_of(subject_id))
