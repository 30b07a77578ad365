"""Reading households: one by id, or a search by place, name, address, a member's whole ID
number or its last four characters, always within the caller's reach (outside it a household
is not found and searches leave it out).

What a reader sees of the personal data is the API's to decide (masks unless a revealing role
asks to reveal; every reveal and every search by an ID number is in the audit trail): see
`linli_registry.api.deps.revealing`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from linli_registry.adapters.reads import HouseholdReads
from linli_registry.adapters.repository import HouseholdRepository
from linli_registry.domain.household import Household, Member
from linli_registry.domain.records import HistoryEntry, HouseholdFilter
from linli_shared.crypto import FieldCipher
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.pagination import MAX_LIMIT, PageRequest, Slice
from linli_shared.reach import EVERYWHERE, Reach


@dataclass(frozen=True)
class DataCopy:
    """What the registry holds about a resident: their own member record, the household they
    are a member of, and its history."""

    resident_id: uuid.UUID
    member: Member
    household: Household
    history: list[HistoryEntry]


class DisclosureUseCases:
    def __init__(self, database: Database, cipher: FieldCipher) -> None:
        self._database = database
        self._cipher = cipher
        self._reads = HouseholdReads(database, cipher)

    async def household_of(self, resident_id: uuid.UUID) -> uuid.UUID | None:
        """The household the registry has this resident in (what a resident reaches)."""
        async with self._database.connect() as connection:
            return await HouseholdRepository(connection, self._cipher).household_of(resident_id)

    async def get_household(self, household_id: uuid.UUID, reach: Reach = EVERYWHERE) -> Household:
        """The household; outside the caller's reach (its grids; a resident's own household)
        it is not found (its existence is not revealed)."""
        household = await self._reads.household(household_id)
        if household is None or not reach.covers(household.grid_id, household.id):
            raise NotFound("household", household_id)
        return household

    async def search_households(
        self, criteria: HouseholdFilter, page: PageRequest, reach: Reach = EVERYWHERE
    ) -> Slice[Household]:
        async with self._database.connect() as connection:
            return await HouseholdRepository(connection, self._cipher).search(
                replace(criteria, grid_ids=reach.grids, household_ids=reach.parties), page
            )

    async def data_copy(self, resident_id: uuid.UUID, reach: Reach = EVERYWHERE) -> DataCopy:
        """A copy of the resident's data (their right under the Personal Information Protection
        Law): their member record, their household and its every version. Only the resident
        themself reaches it (and admins); anyone else's is not found."""
        async with self._database.connect() as connection:
            repository = HouseholdRepository(connection, self._cipher)
            household_id = await repository.household_of(resident_id)
            household = None if household_id is None else await repository.get(household_id)
            if household is None or not reach.covers(household.grid_id, resident_id):
                raise NotFound("resident", resident_id)
            history: list[HistoryEntry] = []
            while True:
                found = await repository.history(
                    household.id, PageRequest(limit=MAX_LIMIT, offset=len(history))
                )
                history += found.items
                if not found.items or len(history) >= found.total:
                    break
        [member] = [m for m in household.members if m.resident_id == resident_id]
        return DataCopy(resident_id, member, household, history)
