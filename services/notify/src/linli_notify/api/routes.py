from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from linli_notify.adapters.templates import DIGEST
from linli_notify.api.schemas import (
    GridContactIn,
    GridContactList,
    GridContactOut,
    InboxItemOut,
    InboxPage,
    NoticeOut,
    NoticePage,
    PreferencesIn,
    PreferencesOut,
    PreviewIn,
    PreviewOut,
    ReadState,
    RotateIn,
    TemplateList,
    TemplateOut,
    WebhookIn,
    WebhookList,
    WebhookMessageOut,
    WebhookMessagePage,
    WebhookOut,
    WebhookPatch,
)
from linli_notify.domain.notice import NoticeType, QuietHours, Recipient, normalise_locale
from linli_notify.service.notices import NotifyService, Preferences
from linli_shared.auth import Principal, require_roles
from linli_shared.errors import NotFound, Problem
from linli_shared.pagination import MAX_OFFSET
from linli_shared.reach import reach_of

router = APIRouter()

READERS = ("community_staff", "grid_worker", "credit_officer", "service")
# Staff frontends and the resident frontend's backend (a `service` token) use the inbox.
INBOX_USERS = ("community_staff", "grid_worker", "service")
STAFF = ("community_staff",)
# Grid workers reach only the recipients of their grids (see linli_shared.reach): another grid's
# recipient, notice or inbox is not found (404), whether read or changed.
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}


def notify_service(request: Request) -> NotifyService:
    service: NotifyService = request.app.state.service
    return service


# --- notices and their delivery log ------------------------------------------------------------


@router.get(
    "/notices",
    response_model=NoticePage,
    responses=NOT_FOUND,
    tags=["notices"],
    summary="Notices sent to a recipient",
)
async def list_notices(
    recipient_id: uuid.UUID,
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
    service: NotifyService = Depends(notify_service),
    principal: Principal = Depends(require_roles(*READERS)),
) -> NoticePage:
    notices = await service.notices_for(recipient_id, limit, offset, reach_of(principal))
    return NoticePage(items=[NoticeOut.of(n) for n in notices], limit=limit, offset=offset)


@router.get(
    "/notices/{notice_id}",
    response_model=NoticeOut,
    responses=NOT_FOUND,
    tags=["notices"],
    summary="A notice with its delivery log (every attempt: channel, status, response, time)",
)
async def get_notice(
    notice_id: uuid.UUID,
    service: NotifyService = Depends(notify_service),
    principal: Principal = Depends(require_roles(*READERS)),
) -> NoticeOut:
    notice, deliveries = await service.notice(notice_id, reach_of(principal))
    return NoticeOut.of(notice, deliveries)


# --- the in-app inbox --------------------------------------------------------------------------


@router.get(
    "/recipients/{recipient_id}/inbox",
    response_model=InboxPage,
    responses=NOT_FOUND,
    tags=["inbox"],
    summary="A recipient's in-app inbox: delivered notices, newest first",
)
async def inbox(
    recipient_id: uuid.UUID,
    unread: bool = Query(default=False, description="Only unread notices"),
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
    service: NotifyService = Depends(notify_service),
    principal: Principal = Depends(require_roles(*INBOX_USERS)),
) -> InboxPage:
    items, unread_count = await service.inbox(
        recipient_id, unread=unread, limit=limit, offset=offset, reach=reach_of(principal)
    )
    return InboxPage(
        items=[InboxItemOut.of(item) for item in items],
        unread=unread_count,
        limit=limit,
        offset=offset,
    )


@router.put(
    "/notices/{notice_id}/read-state",
    response_model=InboxItemOut,
    responses=NOT_FOUND,
    tags=["inbox"],
    summary="Mark a delivered notice read or unread",
)
async def set_read_state(
    notice_id: uuid.UUID,
    state: ReadState,
    service: NotifyService = Depends(notify_service),
    principal: Principal = Depends(require_roles(*INBOX_USERS)),
) -> InboxItemOut:
    return InboxItemOut.of(await service.mark_read(notice_id, state.read, reach_of(principal)))


# --- preferences -------------------------------------------------------------------------------


@router.get(
    "/recipients/{recipient_id}/preferences",
    response_model=PreferencesOut,
    responses=NOT_FOUND,
    tags=["preferences"],
    summary="A recipient's channel order, quiet hours and digest choice",
)
async def get_preferences(
    recipient_id: uuid.UUID,
    service: NotifyService = Depends(notify_service),
    principal: Principal = Depends(require_roles(*INBOX_USERS)),
) -> PreferencesOut:
    return PreferencesOut.of(*await service.preferences(recipient_id, reach_of(principal)))


@router.put(
    "/recipients/{recipient_id}/preferences",
    response_model=PreferencesOut,
    responses=NOT_FOUND,
    tags=["preferences"],
    summary="Set channel order (the fallback chain), quiet hours and the daily digest",
)
async def put_preferences(
    recipient_id: uuid.UUID,
    body: PreferencesIn,
    service: NotifyService = Depends(notify_service),
    principal: Principal = Depends(require_roles(*INBOX_USERS)),
) -> PreferencesOut:
    quiet = QuietHours(body.quiet_hours.start, body.quiet_hours.end) if body.quiet_hours else None
    preferences = Preferences(body.channel_order, quiet, body.digest)
    return PreferencesOut.of(
        *await service.set_preferences(recipient_id, preferences, reach_of(principal))
    )


# --- grid contacts -----------------------------------------------------------------------------


@router.get(
    "/grid-contacts",
    response_model=GridContactList,
    tags=["grid contacts"],
    summary="Grid workers' contacts (who hears of overdue rectifications in each grid)",
)
async def list_grid_contacts(
    service: NotifyService = Depends(notify_service),
    _: Principal = Depends(require_roles(*STAFF)),
) -> GridContactList:
    contacts = await service.grid_contacts()
    return GridContactList(items=[GridContactOut.of(g, r) for g, r in contacts])


@router.put(
    "/grid-contacts/{grid_id}",
    response_model=GridContactOut,
    tags=["grid contacts"],
    summary="Set a grid worker's contact",
)
async def put_grid_contact(
    grid_id: str,
    body: GridContactIn,
    service: NotifyService = Depends(notify_service),
    _: Principal = Depends(require_roles(*STAFF)),
) -> GridContactOut:
    recipient: Recipient = await service.set_grid_contact(
        grid_id,
        name=body.name,
        email=str(body.email) if body.email else None,
        phone=body.phone,
        channels=body.channels,
        locale=body.locale,
    )
    return GridContactOut.of(grid_id, recipient)


@router.delete(
    "/grid-contacts/{grid_id}",
    status_code=204,
    responses=NOT_FOUND,
    tags=["grid contacts"],
    summary="Remove a grid worker's contact",
)
async def delete_grid_contact(
    grid_id: str,
    service: NotifyService = Depends(notify_service),
    _: Principal = Depends(require_roles(*STAFF)),
) -> None:
    await service.remove_grid_contact(grid_id)


# --- partner webhooks (admin: city IT) -----------------------------------------------------------


@router.post(
    "/webhooks",
    response_model=WebhookOut,
    status_code=201,
    tags=["partner webhooks"],
    summary="Register a partner agency's endpoint; the answer holds its signing secret",
)
async def create_webhook(
    body: WebhookIn,
    service: NotifyService = Depends(notify_service),
    _: Principal = Depends(require_roles()),
) -> WebhookOut:
    endpoint = await service.add_webhook(
        name=body.name,
        url=str(body.url),
        notice_types=body.notice_types,
        department=body.department,
    )
    return WebhookOut.of(endpoint, with_secrets=True)


@router.get(
    "/webhooks", response_model=WebhookList, tags=["partner webhooks"], summary="Partner endpoints"
)
async def list_webhooks(
    service: NotifyService = Depends(notify_service),
    _: Principal = Depends(require_roles()),
) -> WebhookList:
    return WebhookList(items=[WebhookOut.of(e) for e in await service.webhooks()])


@router.get(
    "/webhooks/{endpoint_id}",
    response_model=WebhookOut,
    responses=NOT_FOUND,
    tags=["partner webhooks"],
    summary="A partner endpoint (whether it is enabled, and why not)",
)
async def get_webhook(
    endpoint_id: uuid.UUID,
    service: NotifyService = Depends(notify_service),
    _: Principal = Depends(require_roles()),
) -> WebhookOut:
    return WebhookOut.of(await service.webhook(endpoint_id))


@router.patch(
    "/webhooks/{endpoint_id}",
    response_model=WebhookOut,
    responses=NOT_FOUND,
    tags=["partner webhooks"],
    summary="Change an endpoint; `enabled: true` re-enables one that was disabled",
)
async def patch_webhook(
    endpoint_id: uuid.UUID,
    body: WebhookPatch,
    service: NotifyService = Depends(notify_service),
    _: Principal = Depends(require_roles()),
) -> WebhookOut:
    endpoint = await service.update_webhook(
        endpoint_id,
        url=str(body.url) if body.url else None,
        notice_types=body.notice_types,
        enabled=body.enabled,
    )
    return WebhookOut.of(endpoint)


@router.post(
    "/webhooks/{endpoint_id}/rotate-secret",
    response_model=WebhookOut,
    responses=NOT_FOUND,
    tags=["partner webhooks"],
    summary="A new signing secret; by default the previous one keeps signing until retired",
)
async def rotate_secret(
    endpoint_id: uuid.UUID,
    body: RotateIn,
    service: NotifyService = Depends(notify_service),
    _: Principal = Depends(require_roles()),
) -> WebhookOut:
    endpoint = await service.rotate_webhook_secret(endpoint_id, keep_previous=body.keep_previous)
    return WebhookOut.of(endpoint, with_secrets=True)


@router.post(
    "/webhooks/{endpoint_id}/retire-previous-secrets",
    response_model=WebhookOut,
    responses=NOT_FOUND,
    tags=["partner webhooks"],
    summary="Stop signing with all but the newest secret",
)
async def retire_secrets(
    endpoint_id: uuid.UUID,
    service: NotifyService = Depends(notify_service),
    _: Principal = Depends(require_roles()),
) -> WebhookOut:
    return WebhookOut.of(await service.retire_previous_secrets(endpoint_id))


@router.get(
    "/webhooks/{endpoint_id}/messages",
    response_model=WebhookMessagePage,
    responses=NOT_FOUND,
    tags=["partner webhooks"],
    summary="Messages to an endpoint with every attempt",
)
async def webhook_messages(
    endpoint_id: uuid.UUID,
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
    service: NotifyService = Depends(notify_service),
    _: Principal = Depends(require_roles()),
) -> WebhookMessagePage:
    messages = await service.webhook_messages(endpoint_id, limit, offset)
    return WebhookMessagePage(
        items=[WebhookMessageOut.of(m, a) for m, a in messages], limit=limit, offset=offset
    )


# --- templates ---------------------------------------------------------------------------------

TEMPLATE_TYPES = [t.value for t in NoticeType] + [DIGEST]


@router.get(
    "/templates",
    response_model=TemplateList,
    tags=["templates"],
    summary="Notice types and the locales each has a template in",
)
async def list_templates(
    service: NotifyService = Depends(notify_service),
    _: Principal = Depends(require_roles(*READERS)),
) -> TemplateList:
    return TemplateList(
        items=[
            TemplateOut(notice_type=t, locales=service.template_locales(t)) for t in TEMPLATE_TYPES
        ]
    )


@router.post(
    "/templates/{notice_type}/preview",
    response_model=PreviewOut,
    responses=NOT_FOUND,
    tags=["templates"],
    summary="Render a template with given variables; a missing variable is a 422 naming it",
)
async def preview(
    notice_type: str,
    body: PreviewIn,
    service: NotifyService = Depends(notify_service),
    _: Principal = Depends(require_roles(*READERS)),
) -> PreviewOut:
    if notice_type not in TEMPLATE_TYPES:
        raise NotFound("notice type", notice_type)
    recipient = Recipient(
        id=uuid.UUID(int=0),
        name=body.recipient.name,
        email=None,
        address=body.recipient.address,
        locale=body.locale,
    )
    rendered = service.preview(notice_type, body.locale, body.variables, recipient)
    return PreviewOut(
        notice_type=notice_type,
        locale=normalise_locale(body.locale),
        subject=rendered.subject,
        body=rendered.body,
        sms=rendered.sms,
    )
