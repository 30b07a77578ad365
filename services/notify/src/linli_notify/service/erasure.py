"""Notify's part of an erasure (docs/privacy.md): its copies removed (`adapters/erasure.py`),
and every subject key it keeps in its cache dropped, so nothing sealed under a key the registry
destroyed opens here again, even a replayed event within the cache's lifetime (which residents'
keys went with a whole household is not known here: erasures are rare, the cache refills)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_notify.adapters.erasure import erase_copies
from linli_notify.service.recipients import RecipientUseCases


@dataclass(frozen=True)
class NotifyEraser:
    recipients: RecipientUseCases

    async def __call__(
        self, connection: AsyncConnection, household_id: uuid.UUID, resident_id: uuid.UUID | None
    ) -> dict[str, int]:
        removed = await erase_copies(connection, household_id, resident_id)
        self.recipients.forget_keys()
        return removed
