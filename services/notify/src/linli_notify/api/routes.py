from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Request

from linli_notify.api.schemas import NoticeOut, NoticePage
from linli_notify.service.notices import NotifyService
from linli_shared.auth import Principal, require_roles
from linli_shared.errors import Problem

router = APIRouter(tags=["notices"])

READERS = ("community_staff", "grid_worker", "credit_officer", "service")


def notify_service(request: Request) -> NotifyService:
    service: NotifyService = request.app.state.service
    return service


@router.get("/notices", response_model=NoticePage, summary="Notices sent to a recipient")
async def list_notices(
    recipient_id: uuid.UUID,
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0),
    service: NotifyService = Depends(notify_service),
    _: Principal = Depends(require_roles(*READERS)),
) -> NoticePage:
    notices = await service.notices_for(recipient_id, limit, offset)
    return NoticePage(items=[NoticeOut.of(n) for n in notices], limit=limit, offset=offset)


@router.get(
    "/notices/{notice_id}",
    response_model=NoticeOut,
    responses={404: {"model": Problem}},
    summary="A notice with its delivery log",
)
async def get_notice(
    notice_id: uuid.UUID,
    service: NotifyService = Depends(notify_service),
    _: Principal = Depends(require_roles(*READERS)),
) -> NoticeOut:
    notice, deliveries = await service.notice(notice_id)
    return NoticeOut.of(notice, deliveries)
