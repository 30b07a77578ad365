from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request

from linli_credit.api.schemas import EntriesOut, EntryOut, ScoreOut
from linli_credit.service.ledger import CreditService
from linli_shared.auth import Principal, require_roles
from linli_shared.errors import Problem

router = APIRouter(tags=["ledger"])

READERS = ("credit_officer", "community_staff", "grid_worker", "service")


def credit_service(request: Request) -> CreditService:
    service: CreditService = request.app.state.service
    return service


@router.get(
    "/subjects/{subject_id}/score",
    response_model=ScoreOut,
    responses={404: {"model": Problem}},
    summary="A household's or organisation's integrity score and grade",
)
async def get_score(
    subject_id: uuid.UUID,
    service: CreditService = Depends(credit_service),
    _: Principal = Depends(require_roles(*READERS)),
) -> ScoreOut:
    return ScoreOut.of(await service.account(subject_id))


@router.get(
    "/subjects/{subject_id}/entries",
    response_model=EntriesOut,
    responses={404: {"model": Problem}},
    summary="The ledger entries of a subject, oldest first",
)
async def get_entries(
    subject_id: uuid.UUID,
    service: CreditService = Depends(credit_service),
    _: Principal = Depends(require_roles(*READERS)),
) -> EntriesOut:
    entries = await service.entries(subject_id)
    return EntriesOut(subject_id=subject_id, items=[EntryOut.of(e) for e in entries])
