"""Reading households: one by id, or a search by place, name, address, a member's whole ID
number or its last four characters, always within the caller's reach (outside it a household
is not found and searches leave it out).

What a reader sees of the personal data is the API's to decide (masks unless a revealing role
asks to reveal; every reveal and every search by an ID number is in the audit trail): see
`linli_registry.api.deps.revealing`.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from linli_registry.adapters.reads import HouseholdReads
from linli_registry.adapters.repository import HouseholdRepository
from linli_registry.domain.household import Household
from linli_registry.domain.records import HouseholdFilter
from linli_shared.crypto import FieldCipher
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.pagination import PageRequest, Slice
from linli_shared.reach import EVERYWHERE, Reach


class DisclosureUseCases:
    def __init__(self, database: Database, cipher: FieldCipher) -> None:
        self._database = database
        self._cipher = cipher
        self._reads = HouseholdReads(database, cipher)

    async def get_household(self, household_id: uuid.UUID, reach: Reach = EVERYWHERE) -> Household:
        """The household; outside the caller's grids it is not found (its existence is not
        revealed)."""
        household = await self._reads.household(household_id)
        if household is None or not reach.covers(household.grid_id):
            raise NotFound("household", household_id)
        return household

    async def search_households(
        self, criteria: HouseholdFilter, page: PageRequest, reach: Reach = EVERYWHERE
    ) -> Slice[Household]:
        async with self._database.connect() as connection:
            return await HouseholdRepository(connection, self._cipher).search(
                replace(criteria, grid_ids=reach.grids), page
            )
