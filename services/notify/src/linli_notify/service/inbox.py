"""The in-app inbox: a recipient's delivered notices with their text, read or unread."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from linli_notify.adapters.repository import NoticeRepository
from linli_notify.domain.notice import Notice, NoticeStatus
from linli_notify.service.reach import reaches
from linli_shared.clock import Clock
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.pagination import PageRequest, Slice
from linli_shared.reach import EVERYWHERE, Reach


@dataclass(frozen=True)
class InboxItem:
    notice: Notice
    subject: str | None
    body: str | None


@dataclass(frozen=True)
class InboxPage:
    """One page of the inbox, and how many of the recipient's notices are unread in all."""

    items: Slice[InboxItem]
    unread: int


@dataclass(frozen=True)
class InboxUseCases:
    _database: Database
    _clock: Clock

    async def inbox(
        self,
        recipient_id: uuid.UUID,
        page: PageRequest,
        *,
        unread: bool = False,
        reach: Reach = EVERYWHERE,
    ) -> InboxPage:
        """Delivered notices, newest first, with their text; and how many are unread."""
        async with self._database.connect() as connection:
            notices = NoticeRepository(connection)
            if not await reaches(notices, recipient_id, reach):
                raise NotFound("recipient", recipient_id)
            listed = await notices.list_for(recipient_id, page, inbox=True, unread=unread)
            items = [InboxItem(n, *(await notices.content(n.id))) for n in listed.items]
            return InboxPage(
                Slice(items, listed.total, page), await notices.count_unread(recipient_id)
            )

    async def mark_read(
        self, notice_id: uuid.UUID, read: bool, reach: Reach = EVERYWHERE
    ) -> InboxItem:
        async with self._database.transaction() as connection:
            notices = NoticeRepository(connection)
            notice = await notices.get(notice_id)
            if (
                notice is None
                or notice.status is not NoticeStatus.DELIVERED
                or not await reaches(notices, notice.recipient_id, reach)
            ):
                raise NotFound("inbox notice", notice_id)
            if read and notice.read_at is None:
                await notices.mark_read(notice_id, self._clock.now())
            elif not read:
                await notices.mark_read(notice_id, None)
            updated = await notices.get(notice_id)
            if updated is None:
                raise NotFound("inbox notice", notice_id)
            return InboxItem(updated, *(await notices.content(notice_id)))
