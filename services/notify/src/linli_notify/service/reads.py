"""Proof of delivery: a recipient's notices, and one notice with its delivery log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from linli_notify.adapters.repository import NoticeRepository
from linli_notify.domain.delivery import Delivery
from linli_notify.domain.notice import Notice
from linli_notify.service.reach import reaches
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.pagination import PageRequest, Slice
from linli_shared.reach import EVERYWHERE, Reach


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
