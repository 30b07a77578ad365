"""What routes depend on, as `Annotated` aliases: each use-case object (from the `UseCases` the
composition root put on `app.state`), each role set, and the page asked for."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from linli_notify.service import UseCases
from linli_notify.service.inbox import InboxUseCases
from linli_notify.service.preferences import GridContactUseCases, PreferenceUseCases
from linli_notify.service.previews import PreviewUseCases
from linli_notify.service.reads import NoticeReadUseCases
from linli_notify.service.webhooks import WebhookUseCases
from linli_shared.auth import Principal, authenticated, require_roles
from linli_shared.pagination import PageRequest, page_request

# The recipients themselves, signed in: a property manager or shop (its organisation's notices),
# a resident (their household's). Each reaches only itself as a recipient.
PARTIES = ("property_manager", "shop", "resident")
READERS = ("community_staff", "grid_worker", "credit_officer", "service")
NOTICE_READERS = (*READERS, *PARTIES)
# Staff frontends, the resident frontend's backend (a `service` token) and the recipients
# themselves use the inbox and set preferences.
INBOX_USERS = ("community_staff", "grid_worker", "service", *PARTIES)
STAFF = ("community_staff",)
# A copy of a resident's own data: the resident themself (admins pass every check).
RESIDENTS = ("resident",)


async def use_cases(request: Request) -> UseCases:
    found: UseCases = request.app.state.use_cases
    return found


async def reads(request: Request) -> NoticeReadUseCases:
    return (await use_cases(request)).reads


async def inbox(request: Request) -> InboxUseCases:
    return (await use_cases(request)).inbox


async def preferences(request: Request) -> PreferenceUseCases:
    return (await use_cases(request)).preferences


async def grid_contacts(request: Request) -> GridContactUseCases:
    return (await use_cases(request)).grid_contacts


async def webhooks(request: Request) -> WebhookUseCases:
    return (await use_cases(request)).webhooks


async def previews(request: Request) -> PreviewUseCases:
    return (await use_cases(request)).previews


async def caller_household(request: Request) -> uuid.UUID | None:
    """The household of the caller's resident claim, as notify knows it from the registry's
    members lists: the recipient a resident reaches."""
    principal = await authenticated(request)  # verified once per request: a lookup here
    if principal.resident_id is None:
        return None
    return await (await use_cases(request)).recipients.household_of(principal.resident_id)


Reads = Annotated[NoticeReadUseCases, Depends(reads)]
CallerHousehold = Annotated[uuid.UUID | None, Depends(caller_household)]
Inbox = Annotated[InboxUseCases, Depends(inbox)]
Preferences = Annotated[PreferenceUseCases, Depends(preferences)]
Contacts = Annotated[GridContactUseCases, Depends(grid_contacts)]
Webhooks = Annotated[WebhookUseCases, Depends(webhooks)]
Previews = Annotated[PreviewUseCases, Depends(previews)]

Reader = Annotated[Principal, Depends(require_roles(*READERS))]
NoticeReader = Annotated[Principal, Depends(require_roles(*NOTICE_READERS))]
InboxUser = Annotated[Principal, Depends(require_roles(*INBOX_USERS))]
Staff = Annotated[Principal, Depends(require_roles(*STAFF))]
Resident = Annotated[Principal, Depends(require_roles(*RESIDENTS))]
Admin = Annotated[Principal, Depends(require_roles())]  # city IT: the admin role only

Paging = Annotated[PageRequest, Depends(page_request)]
