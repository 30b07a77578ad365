"""The routes' dependencies: the use cases (built in `app.py`, on `app.state`) and the role sets,
as `Annotated` aliases a route names as parameter types."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from linli_credit.service import UseCases
from linli_credit.service.appeals import AppealUseCases
from linli_credit.service.awards import AwardUseCases
from linli_credit.service.reads import ReadUseCases
from linli_shared.auth import RESIDENT_ROLES, Principal, authenticated, guarded, require_roles
from linli_shared.pagination import PageRequest, page_request
from linli_shared.reach import Reach, reach_of

READERS = ("credit_officer", "community_staff", "grid_worker", "service")
# The subjects themselves, signed in: a resident (their own and their household's record), a
# property manager or shop (its organisation's). Each reaches its own only.
PARTIES = ("resident", "property_manager", "shop")
SUBJECT_READERS = (*READERS, *PARTIES)
STAFF = ("credit_officer", "community_staff")
FILERS = ("credit_officer", "community_staff", "grid_worker")
# Who files (and follows) appeals: staff, and the subjects against their own entries.
APPELLANTS = (*FILERS, *PARTIES)
OFFICERS = ("credit_officer",)
# The service hall's check, and a resident asking about their own household's priority right.
HALL = ("service", "community_staff", "credit_officer")
GREEN_CHANNEL_READERS = (*HALL, "resident")
# A copy of a resident's own data: the resident themself (admins pass every check).
RESIDENTS = ("resident",)


async def use_cases(request: Request) -> UseCases:
    credit: UseCases = request.app.state.use_cases
    return credit


async def reads(request: Request) -> ReadUseCases:
    return (await use_cases(request)).reads


async def awards(request: Request) -> AwardUseCases:
    return (await use_cases(request)).awards


async def appeals(request: Request) -> AppealUseCases:
    return (await use_cases(request)).appeals


async def caller_household(request: Request) -> uuid.UUID | None:
    principal = await authenticated(request)  # verified once per request: a lookup here
    return await _household_of(await use_cases(request), principal)


async def _household_of(credit: UseCases, principal: Principal) -> uuid.UUID | None:
    """The household of the caller's resident claim, as the ledger knows it (its resident
    account): what a resident reaches besides their own record. Asked only of a resident:
    `reach_of` reads it through the resident role alone."""
    if principal.resident_id is None or not principal.roles & RESIDENT_ROLES:
        return None
    return await credit.reads.household_of(principal.resident_id)


@dataclass(frozen=True)
class SubjectCaller:
    """The caller of a read about one subject, role-checked, with what it reaches (its grids;
    a resident their own and their household's record, an organisation its own) and credit's
    use cases: the hot reads' one dependency (`linli_shared.auth.guarded`)."""

    principal: Principal
    reach: Reach
    credit: UseCases


async def subject_caller(request: Request, principal: Principal) -> SubjectCaller:
    credit = await use_cases(request)
    household = await _household_of(credit, principal)
    return SubjectCaller(principal, reach_of(principal, household), credit)


Reads = Annotated[ReadUseCases, Depends(reads)]
CallerHousehold = Annotated[uuid.UUID | None, Depends(caller_household)]
Awards = Annotated[AwardUseCases, Depends(awards)]
Appeals = Annotated[AppealUseCases, Depends(appeals)]

Reader = Annotated[Principal, Depends(require_roles(*READERS))]
SubjectReader = Annotated[Principal, Depends(require_roles(*SUBJECT_READERS))]
Staff = Annotated[Principal, Depends(require_roles(*STAFF))]
Appellant = Annotated[Principal, Depends(require_roles(*APPELLANTS))]
Officer = Annotated[Principal, Depends(require_roles(*OFFICERS))]
SubjectReading = Annotated[SubjectCaller, Depends(guarded(subject_caller, *SUBJECT_READERS))]
HallCheck = Annotated[SubjectCaller, Depends(guarded(subject_caller, *GREEN_CHANNEL_READERS))]
Resident = Annotated[Principal, Depends(require_roles(*RESIDENTS))]

Paging = Annotated[PageRequest, Depends(page_request)]
