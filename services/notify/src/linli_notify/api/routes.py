"""Notify's HTTP API: thin routes over the use cases (api/deps.py gives them, and the roles)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from linli_notify.api.deps import (
    Admin,
    CallerHousehold,
    Contacts,
    Inbox,
    InboxUser,
    NoticeReader,
    Paging,
    Preferences,
    Previews,
    Reader,
    Reads,
    Resident,
    Staff,
    Webhooks,
)
from linli_notify.api.schemas import (
    DataCopyOut,
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
from linli_notify.domain.notice import normalise_locale
from linli_shared.audit import mark_personal_data_read, mark_subjects_revealed
from linli_shared.errors import Problem
from linli_shared.reach import reach_of

router = APIRouter()

# Grid workers reach only the recipients of their grids (see linli_shared.reach), a property
# manager or shop only its organisation, a resident only their household: another recipient,
# notice or inbox is not found (404), whether read or changed.
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}


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
    page: Paging,
    reads: Reads,
    principal: NoticeReader,
    household: CallerHousehold,
) -> NoticePage:
    found = await reads.notices_for(recipient_id, page, reach_of(principal, household))
    return NoticePage(
        items=[NoticeOut.of(n) for n in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/notices/{notice_id}",
    response_model=NoticeOut,
    responses=NOT_FOUND,
    tags=["notices"],
    summary="A notice with its delivery log (every attempt: channel, status, response, time)",
)
async def get_notice(
    notice_id: uuid.UUID, reads: Reads, principal: NoticeReader, household: CallerHousehold
) -> NoticeOut:
    notice, deliveries = await reads.notice(notice_id, reach_of(principal, household))
    return NoticeOut.of(notice, deliveries)


@router.get(
    "/residents/{resident_id}/data-copy",
    response_model=DataCopyOut,
    responses=NOT_FOUND,
    tags=["residents"],
    summary="A copy of what notify holds about a resident, for the resident (audited)",
    description="Their household as a recipient (contact, preferences) and every notice sent "
    "to it, with what it said and its delivery log. A resident asks for their own only: any "
    "other resident id is 404. Every copy is a `personal-data-read` in the audit trail.",
)
async def get_data_copy(
    resident_id: uuid.UUID,
    request: Request,
    reads: Reads,
    principal: Resident,
    household: CallerHousehold,
) -> DataCopyOut:
    copy = await reads.data_copy(resident_id, reach_of(principal, household))
    mark_personal_data_read(request, request.url.path)
    mark_subjects_revealed(request, [copy.recipient.id])
    return DataCopyOut.of(copy)


# --- the in-app inbox --------------------------------------------------------------------------


@router.get(
    "/recipients/{recipient_id}/inbox",
    response_model=InboxPage,
    responses=NOT_FOUND,
    tags=["inbox"],
    summary="A recipient's in-app inbox: delivered notices, newest first",
)
async def get_inbox(
    recipient_id: uuid.UUID,
    page: Paging,
    inbox: Inbox,
    principal: InboxUser,
    household: CallerHousehold,
    unread: Annotated[bool, Query(description="Only unread notices")] = False,
) -> InboxPage:
    reach = reach_of(principal, household)
    found = await inbox.inbox(recipient_id, page, unread=unread, reach=reach)
    return InboxPage(
        items=[InboxItemOut.of(item) for item in found.items.items],
        unread=found.unread,
        total=found.items.total,
        limit=page.limit,
        offset=page.offset,
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
    inbox: Inbox,
    principal: InboxUser,
    household: CallerHousehold,
) -> InboxItemOut:
    reach = reach_of(principal, household)
    return InboxItemOut.of(await inbox.mark_read(notice_id, state.read, reach))


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
    preferences: Preferences,
    principal: InboxUser,
    household: CallerHousehold,
) -> PreferencesOut:
    reach = reach_of(principal, household)
    return PreferencesOut.of(*await preferences.preferences(recipient_id, reach))


@router.put(
    "/recipients/{recipient_id}/preferences",
    response_model=PreferencesOut,
    responses=NOT_FOUND,
    tags=["preferences"],
    summary="Set channel order (the fallback chain), quiet hours and the daily digest",
)
async def set_preferences(
    recipient_id: uuid.UUID,
    body: PreferencesIn,
    preferences: Preferences,
    principal: InboxUser,
    household: CallerHousehold,
) -> PreferencesOut:
    changed = await preferences.set_preferences(
        recipient_id, body.preferences(), reach_of(principal, household)
    )
    return PreferencesOut.of(*changed)


# --- grid contacts -----------------------------------------------------------------------------


@router.get(
    "/grid-contacts",
    response_model=GridContactList,
    tags=["grid contacts"],
    summary="Grid workers' contacts (who hears of overdue rectifications in each grid)",
)
async def list_grid_contacts(page: Paging, contacts: Contacts, _: Staff) -> GridContactList:
    found = await contacts.grid_contacts(page)
    return GridContactList(
        items=[GridContactOut.of(r) for r in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.put(
    "/grid-contacts/{grid_id}",
    response_model=GridContactOut,
    tags=["grid contacts"],
    summary="Set a grid worker's contact",
)
async def set_grid_contact(
    grid_id: str, body: GridContactIn, contacts: Contacts, _: Staff
) -> GridContactOut:
    recipient = await contacts.set_grid_contact(
        grid_id,
        name=body.name,
        email=str(body.email) if body.email else None,
        phone=body.phone,
        channels=body.channels,
        locale=body.locale,
    )
    return GridContactOut.of(recipient)


@router.delete(
    "/grid-contacts/{grid_id}",
    status_code=204,
    responses=NOT_FOUND,
    tags=["grid contacts"],
    summary="Remove a grid worker's contact",
)
async def remove_grid_contact(grid_id: str, contacts: Contacts, _: Staff) -> None:
    await contacts.remove_grid_contact(grid_id)


# --- partner webhooks (admin: city IT) -----------------------------------------------------------


@router.post(
    "/webhooks",
    response_model=WebhookOut,
    status_code=201,
    tags=["partner webhooks"],
    summary="Register a partner agency's endpoint; the answer holds its signing secret",
)
async def create_webhook(body: WebhookIn, webhooks: Webhooks, _: Admin) -> WebhookOut:
    endpoint = await webhooks.add_webhook(
        name=body.name,
        url=str(body.url),
        notice_types=body.notice_types,
        department=body.department,
    )
    return WebhookOut.of(endpoint, with_secrets=True)


@router.get(
    "/webhooks", response_model=WebhookList, tags=["partner webhooks"], summary="Partner endpoints"
)
async def list_webhooks(page: Paging, webhooks: Webhooks, _: Admin) -> WebhookList:
    found = await webhooks.webhooks(page)
    return WebhookList(
        items=[WebhookOut.of(e) for e in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/webhooks/{endpoint_id}",
    response_model=WebhookOut,
    responses=NOT_FOUND,
    tags=["partner webhooks"],
    summary="A partner endpoint (whether it is enabled, and why not)",
)
async def get_webhook(endpoint_id: uuid.UUID, webhooks: Webhooks, _: Admin) -> WebhookOut:
    return WebhookOut.of(await webhooks.webhook(endpoint_id))


@router.patch(
    "/webhooks/{endpoint_id}",
    response_model=WebhookOut,
    responses=NOT_FOUND,
    tags=["partner webhooks"],
    summary="Change an endpoint; `enabled: true` re-enables one that was disabled",
)
async def update_webhook(
    endpoint_id: uuid.UUID, body: WebhookPatch, webhooks: Webhooks, _: Admin
) -> WebhookOut:
    endpoint = await webhooks.update_webhook(
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
async def rotate_webhook_secret(
    endpoint_id: uuid.UUID, body: RotateIn, webhooks: Webhooks, _: Admin
) -> WebhookOut:
    endpoint = await webhooks.rotate_webhook_secret(endpoint_id, keep_previous=body.keep_previous)
    return WebhookOut.of(endpoint, with_secrets=True)


@router.post(
    "/webhooks/{endpoint_id}/retire-previous-secrets",
    response_model=WebhookOut,
    responses=NOT_FOUND,
    tags=["partner webhooks"],
    summary="Stop signing with all but the newest secret",
)
async def retire_previous_webhook_secrets(
    endpoint_id: uuid.UUID, webhooks: Webhooks, _: Admin
) -> WebhookOut:
    return WebhookOut.of(await webhooks.retire_previous_secrets(endpoint_id))


@router.get(
    "/webhooks/{endpoint_id}/messages",
    response_model=WebhookMessagePage,
    responses=NOT_FOUND,
    tags=["partner webhooks"],
    summary="Messages to an endpoint with every attempt",
)
async def list_webhook_messages(
    endpoint_id: uuid.UUID, page: Paging, webhooks: Webhooks, _: Admin
) -> WebhookMessagePage:
    found = await webhooks.webhook_messages(endpoint_id, page)
    return WebhookMessagePage(
        items=[WebhookMessageOut.of(m, a) for m, a in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


# --- templates ---------------------------------------------------------------------------------


@router.get(
    "/templates",
    response_model=TemplateList,
    tags=["templates"],
    summary="Notice types and the locales each has a template in",
)
async def list_templates(page: Paging, previews: Previews, _: Reader) -> TemplateList:
    found = previews.templates(page)
    return TemplateList(
        items=[TemplateOut(notice_type=t, locales=locales) for t, locales in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/templates/{notice_type}/preview",
    response_model=PreviewOut,
    responses=NOT_FOUND,
    tags=["templates"],
    summary="Render a template with given variables; a missing variable is a 422 naming it",
)
async def preview_template(
    notice_type: str, body: PreviewIn, previews: Previews, _: Reader
) -> PreviewOut:
    rendered = previews.preview(
        notice_type,
        body.locale,
        body.variables,
        name=body.recipient.name,
        address=body.recipient.address,
    )
    return PreviewOut(
        notice_type=notice_type,
        locale=normalise_locale(body.locale),
        subject=rendered.subject,
        body=rendered.body,
        sms=rendered.sms,
    )
