"""A household's history: every version, oldest first, with who changed what and when (the
summaries keep no ID numbers or phones). Outside the caller's grids the household is not found.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from linli_registry.adapters.repository import HouseholdRepository
from linli_registry.domain.records import HistoryEntry
from linli_shared.crypto import FieldCipher
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.pagination import PageRequest, Slice
from linli_shared.reach import EVERYWHERE, Reach


@dataclass(frozen=True)
class HistoryUseCases:
    _database: Database
    _cipher: FieldCipher

    async def household_history(
        self, household_id: uuid.UUID, page: PageRequest, reach: Reach = EVERYWHERE
    ) -> Slice[HistoryEntry]:
        async with self._database.connect() as connection:
            repository = HouseholdRepository(connection, self._cipher)
            household = await repository.get(household_id)
            if household is None or not reach.covers(household.grid_id):
                raise NotFound("household", household_id)
            return await repository.history(household_id, page)
