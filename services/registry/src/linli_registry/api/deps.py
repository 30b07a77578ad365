"""What the registry's routes depend on: the use cases (built in `app.py`, kept on `app.state`),
the roles each route admits (read by the permission matrix), paging and revealing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from linli_registry.service import UseCases
from linli_registry.service.access import AccessUseCases
from linli_registry.service.changes import ChangesUseCases
from linli_registry.service.disclosure import DisclosureUseCases
from linli_registry.service.erasure import ErasureUseCases
from linli_registry.service.history import HistoryUseCases
from linli_registry.service.organisations import OrganisationsUseCases
from linli_registry.service.registration import RegistrationUseCases
from linli_registry.service.subject_keys import SubjectKeyUseCases
from linli_registry.service.territory import TerritoryUseCases
from linli_shared.audit import mark_personal_data_read
from linli_shared.auth import RESIDENT_ROLES, Principal, authenticated, guarded, require_roles
from linli_shared.pagination import PageRequest, page_request
from linli_shared.reach import Reach, reach_of

# --- roles ----------------------------------------------------------------------------------

STAFF = ("community_staff", "grid_worker")
READERS = (*STAFF, "inspector", "credit_officer", "service")
# A resident reads their own household (search, lists and ids find no other) and records its
# consent; a property manager or shop reads its own organisation and the compounds it manages.
HOUSEHOLD_READERS = (*READERS, "resident")
CONSENT_RECORDERS = (*STAFF, "resident")
ORGANISATION_READERS = (*READERS, "property_manager", "shop")
# A copy of a resident's own data: the resident themself (admins pass every check).
RESIDENTS = ("resident",)
OFFICE = ("community_staff",)
# Notify's worker, the one consumer that opens personal data sealed in events: it alone reads
# subject keys, not even admins (docs/privacy.md).
KEY_READERS = ("key_reader",)
# Who may see ID numbers and phones unmasked (with ?reveal=true); issue 7 refines the matrix.
REVEALERS = ("community_staff", "admin")
# Erasure is irreversible: the community office, admins and the grid's worker (in its grids).
ERASERS = ("community_staff", "grid_worker", "admin")
# An access request (a copy of everything about a resident) is started by the same roles.
ACCESS_HANDLERS = ERASERS

Reader = Annotated[Principal, Depends(require_roles(*READERS))]
HouseholdReader = Annotated[Principal, Depends(require_roles(*HOUSEHOLD_READERS))]
ConsentRecorder = Annotated[Principal, Depends(require_roles(*CONSENT_RECORDERS))]
OrganisationReader = Annotated[Principal, Depends(require_roles(*ORGANISATION_READERS))]
Resident = Annotated[Principal, Depends(require_roles(*RESIDENTS))]
Staff = Annotated[Principal, Depends(require_roles(*STAFF))]
Office = Annotated[Principal, Depends(require_roles(*OFFICE))]
Eraser = Annotated[Principal, Depends(require_roles(*ERASERS))]
AccessHandler = Annotated[Principal, Depends(require_roles(*ACCESS_HANDLERS))]
KeyReader = Annotated[Principal, Depends(require_roles(*KEY_READERS, admin=False))]

# --- use cases ------------------------------------------------------------------------------


async def use_cases(request: Request) -> UseCases:
    found: UseCases = request.app.state.use_cases
    return found


async def territory(request: Request) -> TerritoryUseCases:
    return (await use_cases(request)).territory


async def registration(request: Request) -> RegistrationUseCases:
    return (await use_cases(request)).registration


async def changes(request: Request) -> ChangesUseCases:
    return (await use_cases(request)).changes


async def disclosure(request: Request) -> DisclosureUseCases:
    return (await use_cases(request)).disclosure


async def history(request: Request) -> HistoryUseCases:
    return (await use_cases(request)).history


async def organisations(request: Request) -> OrganisationsUseCases:
    return (await use_cases(request)).organisations


async def erasure(request: Request) -> ErasureUseCases:
    return (await use_cases(request)).erasure


async def access(request: Request) -> AccessUseCases:
    return (await use_cases(request)).access


async def subject_keys(request: Request) -> SubjectKeyUseCases:
    return (await use_cases(request)).subject_keys


async def caller_household(request: Request) -> uuid.UUID | None:
    principal = await authenticated(request)  # verified once per request: a lookup here
    return await _household_of((await use_cases(request)).disclosure, principal)


async def _household_of(disclosure: DisclosureUseCases, principal: Principal) -> uuid.UUID | None:
    """The household the registry has the caller's resident in: what a resident reaches. Asked
    only of a resident: `reach_of` reads it through the resident role alone."""
    if principal.resident_id is None or not principal.roles & RESIDENT_ROLES:
        return None
    return await disclosure.household_of(principal.resident_id)


Territory = Annotated[TerritoryUseCases, Depends(territory)]
CallerHousehold = Annotated[uuid.UUID | None, Depends(caller_household)]
Registration = Annotated[RegistrationUseCases, Depends(registration)]
Changes = Annotated[ChangesUseCases, Depends(changes)]
Disclosure = Annotated[DisclosureUseCases, Depends(disclosure)]
History = Annotated[HistoryUseCases, Depends(history)]
Organisations = Annotated[OrganisationsUseCases, Depends(organisations)]
Erasures = Annotated[ErasureUseCases, Depends(erasure)]
AccessRequests = Annotated[AccessUseCases, Depends(access)]
SubjectKeys = Annotated[SubjectKeyUseCases, Depends(subject_keys)]

# --- paging and revealing -------------------------------------------------------------------

Paging = Annotated[PageRequest, Depends(page_request)]


RevealQuery = Annotated[
    bool, Query(description="Show ID numbers and phones unmasked (community staff only)")
]
ReasonQuery = Annotated[
    str | None,
    Query(
        min_length=2,
        max_length=120,
        description="Why the data is revealed (kept with the reveal in the audit trail)",
    ),
]


async def revealing(
    request: Request, *, reveal: RevealQuery = False, reason: ReasonQuery = None
) -> bool:
    """Whether to answer unmasked: only revealing roles may ask; each reveal is audited. (The
    route's own role check decides who reads at all.) `reason` is read by the audit trail, which
    keeps the query of a reveal."""
    principal = await authenticated(request)  # verified once per request: a lookup here
    if reveal and not (principal.roles & set(REVEALERS)):
        raise HTTPException(403, "only community staff may reveal personal data")
    if reveal:
        # The audit trail records it; its details keep the query (personal values as keyed
        # hashes) and the reason given, in clear: it is the reveal's justification.
        mark_personal_data_read(request, request.url.path)
    return reveal


Reveal = Annotated[bool, Depends(revealing)]


@dataclass(frozen=True)
class HouseholdCaller:
    """The caller of a household read, role-checked, with what it reaches (its grids; a
    resident their own household), whether it asked to reveal (and may), and the disclosure
    use cases: the hot read's one dependency (`linli_shared.auth.guarded`)."""

    principal: Principal
    reach: Reach
    reveal: bool
    disclosure: DisclosureUseCases


async def household_caller(
    request: Request,
    principal: Principal,
    *,
    reveal: RevealQuery = False,
    reason: ReasonQuery = None,
) -> HouseholdCaller:
    revealed = await revealing(request, reveal=reveal, reason=reason)
    found = await disclosure(request)
    household = await _household_of(found, principal)
    return HouseholdCaller(principal, reach_of(principal, household), revealed, found)


HouseholdReading = Annotated[
    HouseholdCaller, Depends(guarded(household_caller, *HOUSEHOLD_READERS))
]
