"""The routes' dependencies: the use cases (built in `app.py`, on `app.state`) and the role sets,
as `Annotated` aliases a route names as parameter types."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from linli_credit.service import UseCases
from linli_credit.service.appeals import AppealUseCases
from linli_credit.service.awards import AwardUseCases
from linli_credit.service.green_channel import GreenChannelUseCases
from linli_credit.service.reads import ReadUseCases
from linli_shared.auth import Principal, require_roles
from linli_shared.pagination import PageRequest, page_request

READERS = ("credit_officer", "community_staff", "grid_worker", "service")
STAFF = ("credit_officer", "community_staff")
FILERS = ("credit_officer", "community_staff", "grid_worker")
OFFICERS = ("credit_officer",)
HALL = ("service", "community_staff", "credit_officer")


async def use_cases(request: Request) -> UseCases:
    credit: UseCases = request.app.state.use_cases
    return credit


async def reads(request: Request) -> ReadUseCases:
    return (await use_cases(request)).reads


async def awards(request: Request) -> AwardUseCases:
    return (await use_cases(request)).awards


async def appeals(request: Request) -> AppealUseCases:
    return (await use_cases(request)).appeals


async def green_channel(request: Request) -> GreenChannelUseCases:
    return (await use_cases(request)).green_channel


Reads = Annotated[ReadUseCases, Depends(reads)]
Awards = Annotated[AwardUseCases, Depends(awards)]
Appeals = Annotated[AppealUseCases, Depends(appeals)]
GreenChannel = Annotated[GreenChannelUseCases, Depends(green_channel)]

Reader = Annotated[Principal, Depends(require_roles(*READERS))]
Staff = Annotated[Principal, Depends(require_roles(*STAFF))]
Filer = Annotated[Principal, Depends(require_roles(*FILERS))]
Officer = Annotated[Principal, Depends(require_roles(*OFFICERS))]
Hall = Annotated[Principal, Depends(require_roles(*HALL))]

Paging = Annotated[PageRequest, Depends(page_request)]
