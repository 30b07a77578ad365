"""Re-announcing each active household's members (`linli registry announce-members`).

A release that teaches a consumer to keep something new from the registry's events starts with
nothing for the households registered before it: since #22, notify and inspections keep which
household each resident is in, from `household.registered` and `household.members-changed`. This
publishes `household.members-changed` for every active household at its current version,
through the outbox, in bounded batches (one transaction each, in id order, so a stopped run
goes on where it stopped when given `after`). A consumer that has applied that version already
changes nothing; one that has none takes it. Running it twice is harmless.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import select

from linli_registry.adapters.repository import HouseholdRepository
from linli_registry.adapters.subject_keys import SubjectKeys
from linli_registry.adapters.tables import households
from linli_registry.service import events
from linli_shared.clock import Clock
from linli_shared.crypto import FieldCipher
from linli_shared.db import Database
from linli_shared.messaging.outbox import Outbox


class MembersAnnouncement:
    def __init__(
        self,
        database: Database,
        outbox: Outbox,
        clock: Clock,
        cipher: FieldCipher,
        keys: SubjectKeys,
        batch_size: int = 500,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._database = database
        self._outbox = outbox
        self._clock = clock
        self._cipher = cipher
        self._keys = keys
        self._batch_size = batch_size

    async def run(
        self, after: uuid.UUID | None = None, on_batch: Callable[[int], None] | None = None
    ) -> int:
        """Announce every active household's members (those after `after`, by id); how many."""
        announced = 0
        while True:
            async with self._database.transaction() as connection:
                query = select(households.c.id).where(households.c.status == "active")
                if after is not None:
                    query = query.where(households.c.id > after)
                ids = list(
                    await connection.scalars(
                        query.order_by(households.c.id).limit(self._batch_size)
                    )
                )
                repository = HouseholdRepository(connection, self._cipher)
                now = self._clock.now()
                batch = []
                for household_id in ids:
                    household = await repository.get(household_id)
                    if household is not None:
                        seals = events.Seals(
                            await self._keys.keys_for(events.household_subjects(household))
                        )
                        batch.append(events.household_members_changed(household, now, seals))
                await self._outbox.add(connection, *batch)
            announced += len(batch)
            if on_batch is not None and batch:
                on_batch(len(batch))
            if len(ids) < self._batch_size:
                return announced
            after = ids[-1]
