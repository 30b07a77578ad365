"""Proof of delivery: a recipient's notices, and one notice with its delivery log; and a
resident's copy of what notify holds about their household."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from linli_notify.adapters.repository import NoticeRepository
from linli_notify.domain.delivery import Delivery
from linli_notify.domain.notice import Notice, Recipient
from linli_notify.service.reach import reaches
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.pagination import MAX_LIMIT, PageRequest, Slice
from linli_shared.reach import EVERYWHERE, Reach


@dataclass(frozen=True)
class SentNotice:
    """A notice as sent: its record, what it said and every attempt to deliver it."""

    notice: Notice
    subject: str | None
    body: str | None
    deliveries: list[Delivery]


@dataclass(frozen=True)
class DataCopy:
    """What notify holds about a resident: their household as a recipient (its contact and
    preferences) and every notice sent to it."""

    resident_id: uuid.UUID
    recipient: Recipient
    notices: list[SentNotice]


@dataclass(frozen=True)
class NoticeReadUseCases:
    _database: Database

    async def notices_for(
        self, recipient_id: uuid.UUID, page: PageRequest, reach: Reach = EVERYWHERE
    ) -> Slice[Notice]:
        async with self._database.connect() as connection:
            notices = NoticeRepository(connection)
            if not await reaches(notices, recipient_id, reach):
                raise NotFound("recipient", recipient_id)
            return await notices.list_for(recipient_id, page)

    async def notice(
        self, notice_id: uuid.UUID, reach: Reach = EVERYWHERE
    ) -> tuple[Notice, list[Delivery]]:
        async with self._database.connect() as connection:
            notices = NoticeRepository(connection)
            notice = await notices.get(notice_id)
            if notice is None or not await reaches(notices, notice.recipient_id, reach):
                raise NotFound("notice", notice_id)
            return notice, await notices.deliveries_of(notice_id)

    async def data_copy(self, resident_id: uuid.UUID, reach: Reach = EVERYWHERE) -> DataCopy:
        """A copy of what notify holds about the resident: their household's recipient record
        and its every notice. Only the resident themself reaches it (and admins); anyone else's
        is not found, a household member's included."""
        async with self._database.connect() as connection:
            repository = NoticeRepository(connection)
            household_id = await repository.household_of(resident_id)
            recipient = None if household_id is None else await repository.recipient(household_id)
            if recipient is None or not reach.covers(recipient.grid_id, resident_id):
                raise NotFound("resident", resident_id)
            sent: list[SentNotice] = []
            while True:
                found = await repository.list_for(
                    recipient.id, PageRequest(limit=MAX_LIMIT, offset=len(sent))
                )
                for notice in found.items:
                    subject, body = await repository.content(notice.id)
                    deliveries = await repository.deliveries_of(notice.id)
                    sent.append(SentNotice(notice, subject, body, deliveries))
                if not found.items or len(sent) >= found.total:
                    break
        return DataCopy(resident_id, recipient, sent)
