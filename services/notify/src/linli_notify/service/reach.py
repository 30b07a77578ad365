"""Reach, shared by the use cases that read or change one recipient's notices: a grid worker's
token reaches only its grids' recipients, a party's (a property manager, a shop, a resident) only
itself as a recipient (a resident: their household); any other answers "not found"."""

from __future__ import annotations

import uuid

from linli_notify.adapters.repository import NoticeRepository
from linli_notify.domain.notice import Recipient
from linli_shared.errors import NotFound
from linli_shared.reach import Reach


async def reaches(notices: NoticeRepository, recipient_id: uuid.UUID, reach: Reach) -> bool:
    """Whether the caller reaches the recipient: its grid, or the recipient is the caller's own
    party (a recipient not known yet is in no grid and no one's)."""
    if reach.grids is None:
        return True
    recipient = await notices.recipient(recipient_id)
    return recipient is not None and reach.covers(recipient.grid_id, recipient.id)


async def reached_recipient(
    notices: NoticeRepository, recipient_id: uuid.UUID, reach: Reach
) -> Recipient:
    """The recipient, if known and within the caller's reach; else NotFound."""
    recipient = await notices.recipient(recipient_id)
    if recipient is None or not reach.covers(recipient.grid_id, recipient.id):
        raise NotFound("recipient", recipient_id)
    return recipient
