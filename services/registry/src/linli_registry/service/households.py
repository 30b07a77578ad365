"""Registry use cases: each runs in one transaction and emits its events through the outbox."""

from __future__ import annotations

import uuid

from linli_registry.adapters.repository import HouseholdRepository
from linli_registry.domain import household as rules
from linli_registry.domain.household import Household, Member
from linli_shared.clock import Clock
from linli_shared.contracts.registry import HouseholdRegistered, MemberV1
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.messaging.outbox import Outbox


class RegistryService:
    def __init__(self, database: Database, outbox: Outbox, clock: Clock) -> None:
        self._database = database
        self._outbox = outbox
        self._clock = clock

    async def register_household(
        self,
        *,
        community_id: str,
        grid_id: str,
        address: str,
        members: list[Member],
        contact_email: str,
    ) -> Household:
        household = rules.register(
            community_id=community_id,
            grid_id=grid_id,
            address=address,
            members=members,
            contact_email=contact_email,
            now=self._clock.now(),
        )
        async with self._database.transaction() as connection:
            await HouseholdRepository(connection).add(household)
            await self._outbox.add(connection, registered_event(household))
        return household

    async def get_household(self, household_id: uuid.UUID) -> Household:
        async with self._database.connect() as connection:
            household = await HouseholdRepository(connection).get(household_id)
        if household is None:
            raise NotFound("household", household_id)
        return household


def registered_event(household: Household) -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id=household.id,
        community_id=household.community_id,
        grid_id=household.grid_id,
        address=household.address,
        members=[MemberV1(name=m.name, relation=m.relation) for m in household.members],
        contact_email=household.contact_email,
        registered_at=household.registered_at,
    )
