"""What routes depend on, as `Annotated` aliases: the use cases (from `app.state.use_cases`, built
by the composition root), the caller by the roles a route admits, and the page asked for."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from linli_inspections.service import UseCases
from linli_inspections.service.cases import CasesUseCases
from linli_inspections.service.coverage import CoverageUseCases
from linli_inspections.service.evidence import EvidenceUseCases
from linli_inspections.service.pests import PestsUseCases
from linli_inspections.service.reads import ReadsUseCases
from linli_inspections.service.recording import RecordingUseCases
from linli_inspections.service.templates import TemplatesUseCases
from linli_shared.auth import Principal, authenticated, require_roles
from linli_shared.pagination import PageRequest, page_request

INSPECTORS = ("inspector", "grid_worker")
READERS = (*INSPECTORS, "community_staff", "credit_officer", "service")
# Responsible parties signed in for their organisation: they reach only what they answer for.
PARTIES = ("property_manager", "shop")
# Who reads cases and inspections: the readers, and the responsible parties (their own only: a
# resident their household's).
CASE_READERS = (*READERS, *PARTIES, "resident")
# A copy of a resident's own data: the resident themself (admins pass every check).
RESIDENTS = ("resident",)
# Who uploads photos: inspectors on the spot, and responsible parties showing their fix.
UPLOADERS = (*INSPECTORS, *PARTIES)
PLANNERS = ("community_staff", "grid_worker")
# Who reports a fix done: the responsible party itself (its own cases only), or staff for it.
# Not `service`: a client system's token would reach every case of every party.
REPORTERS = ("community_staff", "grid_worker", "inspector", *PARTIES)
PUBLISHERS = ("community_staff",)
# Who plans a case's re-inspection: the staff who assign and do inspections.
SCHEDULERS = ("community_staff", "grid_worker", "inspector")


async def use_cases(request: Request) -> UseCases:
    built: UseCases = request.app.state.use_cases
    return built


async def recording(request: Request) -> RecordingUseCases:
    return (await use_cases(request)).recording


async def cases(request: Request) -> CasesUseCases:
    return (await use_cases(request)).cases


async def coverage(request: Request) -> CoverageUseCases:
    return (await use_cases(request)).coverage


async def templates(request: Request) -> TemplatesUseCases:
    return (await use_cases(request)).templates


async def evidence(request: Request) -> EvidenceUseCases:
    return (await use_cases(request)).evidence


@dataclass(frozen=True)
class Upload:
    """A request's raw body as sent, with the type it declares."""

    content_type: str | None
    content: bytes


async def upload(request: Request) -> Upload:
    return Upload(request.headers.get("content-type"), await request.body())


async def pests(request: Request) -> PestsUseCases:
    return (await use_cases(request)).pests


async def reads(request: Request) -> ReadsUseCases:
    return (await use_cases(request)).reads


async def caller_household(request: Request) -> uuid.UUID | None:
    """The household of the caller's resident claim, as inspections knows it from the
    registry's members lists: a resident reaches its inspections and cases."""
    principal = await authenticated(request)  # verified once per request: a lookup here
    if principal.resident_id is None:
        return None
    return await (await use_cases(request)).places.household_of(principal.resident_id)


Recording = Annotated[RecordingUseCases, Depends(recording)]
CallerHousehold = Annotated[uuid.UUID | None, Depends(caller_household)]
Cases = Annotated[CasesUseCases, Depends(cases)]
Coverage = Annotated[CoverageUseCases, Depends(coverage)]
Templates = Annotated[TemplatesUseCases, Depends(templates)]
Pests = Annotated[PestsUseCases, Depends(pests)]
Evidence = Annotated[EvidenceUseCases, Depends(evidence)]
Uploaded = Annotated[Upload, Depends(upload)]
Reads = Annotated[ReadsUseCases, Depends(reads)]

Inspector = Annotated[Principal, Depends(require_roles(*INSPECTORS))]
Reader = Annotated[Principal, Depends(require_roles(*READERS))]
CaseReader = Annotated[Principal, Depends(require_roles(*CASE_READERS))]
Uploader = Annotated[Principal, Depends(require_roles(*UPLOADERS))]
Planner = Annotated[Principal, Depends(require_roles(*PLANNERS))]
Reporter = Annotated[Principal, Depends(require_roles(*REPORTERS))]
Publisher = Annotated[Principal, Depends(require_roles(*PUBLISHERS))]
Scheduler = Annotated[Principal, Depends(require_roles(*SCHEDULERS))]
Resident = Annotated[Principal, Depends(require_roles(*RESIDENTS))]

Paging = Annotated[PageRequest, Depends(page_request)]
