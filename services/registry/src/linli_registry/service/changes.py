"""Versioned changes to a household: it moves, its members change, how it is reached, its
consent, its deregistration.

Every change names the version it was made against; a stale version is a conflict (409), never
a silent overwrite, and a deregistered household cannot change. Each change is kept in the
household's history and announced as an event carrying the state consumers need, in the same
transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from linli_registry.adapters.repository import HouseholdRepository
from linli_registry.adapters.subject_keys import SubjectKeys
from linli_registry.domain import household as rules
from linli_registry.domain.household import Contact, Household, HouseholdClosed, Member
from linli_registry.service import events, recording
from linli_registry.service.events import Seals
from linli_registry.service.recording import PossibleDuplicate, identified, keep_version
from linli_shared.clock import Clock
from linli_shared.contracts.base import EventData
from linli_shared.contracts.registry import (
    HouseholdConsentChanged,
    HouseholdDeregistered,
)
from linli_shared.crypto import FieldCipher
from linli_shared.db import Database
from linli_shared.errors import Conflict, NotFound
from linli_shared.messaging.outbox import Outbox
from linli_shared.reach import EVERYWHERE, Reach


@dataclass(frozen=True)
class ChangesUseCases:
    _database: Database
    _outbox: Outbox
    _clock: Clock
    _cipher: FieldCipher
    _keys: SubjectKeys

    async def move_household(
        self,
        household_id: uuid.UUID,
        *,
        version: int,
        grid_id: str,
        address: str,
        compound_id: str | None,
        building_id: str | None,
        changed_by: str,
        reach: Reach = EVERYWHERE,
    ) -> Household:
        def change(current: Household) -> Household:
            return rules.move(
                current,
                grid_id=grid_id,
                address=address,
                compound_id=compound_id,
                building_id=building_id,
            )

        return await self._change(
            household_id,
            version,
            "moved",
            changed_by,
            change,
            events.household_moved,
            reach,
            check_place=True,
        )

    async def change_members(
        self,
        household_id: uuid.UUID,
        *,
        version: int,
        members: list[Member],
        allow_duplicate: bool = False,
        changed_by: str,
        reach: Reach = EVERYWHERE,
    ) -> Household:
        return await self._change(
            household_id,
            version,
            "members-changed",
            changed_by,
            lambda current: rules.change_members(current, members),
            events.household_members_changed,
            reach,
            members_changed=True,
            check_id_duplicates=not allow_duplicate,
        )

    async def change_contact(
        self,
        household_id: uuid.UUID,
        *,
        version: int,
        contact: Contact,
        changed_by: str,
        reach: Reach = EVERYWHERE,
    ) -> Household:
        return await self._change(
            household_id,
            version,
            "contact-changed",
            changed_by,
            lambda current: rules.change_contact(current, contact),
            events.household_contact_changed,
            reach,
        )

    async def change_consent(
        self,
        household_id: uuid.UUID,
        *,
        version: int,
        integrity_scoring: bool,
        notice_channels: list[str],
        recorded_by: str,
        reach: Reach = EVERYWHERE,
    ) -> Household:
        now = self._clock.now()

        def event(changed: Household, at: datetime, seals: Seals) -> EventData:
            return HouseholdConsentChanged(
                household_id=changed.id,
                consent=events.consent_v1(changed.consent),
                version=changed.version,
            )

        return await self._change(
            household_id,
            version,
            "consent-changed",
            recorded_by,
            lambda current: rules.change_consent(
                current,
                integrity_scoring=integrity_scoring,
                notice_channels=notice_channels,
                recorded_by=recorded_by,
                now=now,
            ),
            event,
            reach,
        )

    async def deregister_household(
        self,
        household_id: uuid.UUID,
        *,
        version: int,
        reason: str,
        changed_by: str,
        reach: Reach = EVERYWHERE,
    ) -> Household:
        now = self._clock.now()

        def event(changed: Household, at: datetime, seals: Seals) -> EventData:
            return HouseholdDeregistered(
                household_id=changed.id,
                reason=changed.deregistration_reason or reason,
                deregistered_at=changed.deregistered_at or at,
                version=changed.version,
            )

        return await self._change(
            household_id,
            version,
            "deregistered",
            changed_by,
            lambda current: rules.deregister(current, reason=reason, now=now),
            event,
            reach,
        )

    async def _change(
        self,
        household_id: uuid.UUID,
        version: int,
        change_name: str,
        changed_by: str,
        change: Callable[[Household], Household],
        event: Callable[[Household, datetime, Seals], EventData],
        reach: Reach,
        *,
        members_changed: bool = False,
        check_place: bool = False,
        check_id_duplicates: bool = False,
    ) -> Household:
        """The one path of every change: read the current version for update, refuse a stale
        one, apply the rule, identify new residents, check, save, keep, announce."""
        now = self._clock.now()
        async with self._database.transaction() as connection:
            repository = HouseholdRepository(connection, self._cipher)
            current = await repository.get(household_id, for_update=True)
            if current is None or not reach.covers(current.grid_id, current.id):
                raise NotFound("household", household_id)
            if current.version != version:
                raise Conflict(
                    f"household {household_id} is at version {current.version}, "
                    f"not {version}: read it again and reapply the change"
                )
            try:
                changed = change(current)
            except HouseholdClosed as error:
                raise Conflict(str(error)) from error
            changed = await identified(repository, changed, reach)
            if check_place:
                await recording.check_place(
                    connection,
                    changed.community_id,
                    changed.compound_id,
                    changed.building_id,
                    reach,
                )
            if check_id_duplicates:
                candidates = [
                    c
                    for c in await repository.possible_duplicates(changed)
                    if "id_number" in c.reasons
                ]
                if candidates:
                    raise PossibleDuplicate(candidates, reach)
            if not await repository.save(changed, members_changed=members_changed):
                raise Conflict(f"household {household_id} was changed meanwhile")
            await keep_version(repository, changed, change_name, changed_by, now)
            seals = Seals(await self._keys.keys_for(events.household_subjects(changed)))
            await self._outbox.add(connection, event(changed, now, seals))
        return changed
