"""Registering a household: the rules checked, its place checked, its residents identified, a
possible duplicate answered instead of stored (unless the caller says it checked), the first
version kept in its history and `household.registered` published in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass

from linli_registry.adapters.repository import HouseholdRepository
from linli_registry.adapters.subject_keys import SubjectKeys
from linli_registry.domain import household as rules
from linli_registry.domain.household import Consent, Household, Member
from linli_registry.service import events
from linli_registry.service.recording import (
    SYSTEM,
    PossibleDuplicate,
    check_place,
    identified,
    keep_version,
)
from linli_shared.clock import Clock
from linli_shared.crypto import FieldCipher
from linli_shared.db import Database
from linli_shared.messaging.outbox import Outbox
from linli_shared.reach import EVERYWHERE, Reach


@dataclass(frozen=True)
class ConsentInput:
    integrity_scoring: bool
    notice_channels: list[str]


@dataclass(frozen=True)
class RegistrationUseCases:
    _database: Database
    _outbox: Outbox
    _clock: Clock
    _cipher: FieldCipher
    _keys: SubjectKeys

    async def register_household(
        self,
        *,
        community_id: str,
        grid_id: str,
        address: str,
        members: list[Member],
        contact_email: str,
        compound_id: str | None = None,
        building_id: str | None = None,
        contact_phone: str | None = None,
        preferred_channels: tuple[str, ...] = ("email",),
        consent: ConsentInput | None = None,
        allow_duplicate: bool = False,
        registered_by: str = SYSTEM,
        reach: Reach = EVERYWHERE,
    ) -> Household:
        now = self._clock.now()
        household = rules.register(
            community_id=community_id,
            grid_id=grid_id,
            address=address,
            members=members,
            contact_email=contact_email,
            now=now,
            compound_id=compound_id,
            building_id=building_id,
            contact_phone=contact_phone,
            preferred_channels=preferred_channels,
            consent=(
                Consent(
                    consent.integrity_scoring,
                    tuple(consent.notice_channels),
                    registered_by,
                    now,
                )
                if consent is not None
                else None
            ),
        )
        async with self._database.transaction() as connection:
            await check_place(connection, community_id, compound_id, building_id, reach)
            repository = HouseholdRepository(connection, self._cipher)
            household = await identified(repository, household, reach)
            if not allow_duplicate:
                candidates = await repository.possible_duplicates(household)
                if candidates:
                    raise PossibleDuplicate(candidates, reach)
            await repository.add(household)
            await keep_version(repository, household, "registered", registered_by, now)
            seals = events.Seals(await self._keys.keys_for(events.household_subjects(household)))
            await self._outbox.add(connection, events.household_registered(household, seals))
        return household
