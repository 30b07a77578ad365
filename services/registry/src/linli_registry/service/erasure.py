"""Erasing a resident or a whole household (docs/privacy.md).

In one transaction the registry erases its own records (the member or the household's personal
data, the same in every version of its history, the copies its access requests gathered, the
events it already published), destroys the
keys the person's data travelled sealed under (so no copy in Kafka, a dead-letter topic, the
embedded log or a backup opens again), keeps the erasure with what it removed, and announces the
household's new state and `erasure.requested`.
Each service then removes its copies and answers `erasure.applied`; the last answer completes
the erasure and announces `erasure.completed` with the whole report.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from linli_registry.adapters.access_requests import AccessRequestRepository
from linli_registry.adapters.erasures import ErasureRepository
from linli_registry.adapters.repository import HouseholdRepository
from linli_registry.adapters.subject_keys import SubjectKeys
from linli_registry.domain import erasure as rules
from linli_registry.domain.erasure import Erasure
from linli_registry.domain.household import Household, Status
from linli_registry.service import events
from linli_registry.service.recording import keep_version
from linli_shared.clock import Clock
from linli_shared.contracts.erasure import ErasureApplied, ErasureCompleted, ErasureRequested
from linli_shared.contracts.registry import HouseholdDeregistered, HouseholdMembersChanged
from linli_shared.crypto import FieldCipher
from linli_shared.db import Database
from linli_shared.errors import Conflict, NotFound
from linli_shared.messaging.outbox import Outbox
from linli_shared.reach import EVERYWHERE, Reach


@dataclass(frozen=True)
class ErasureUseCases:
    _database: Database
    _outbox: Outbox
    _clock: Clock
    _cipher: FieldCipher
    _keys: SubjectKeys

    async def erase(
        self,
        household_id: uuid.UUID,
        *,
        resident_id: uuid.UUID | None,
        reason: str,
        requested_by: str,
        reach: Reach = EVERYWHERE,
    ) -> Erasure:
        """Erase the resident (or, with none, the household) and ask every service to."""
        now = self._clock.now()
        async with self._database.transaction() as connection:
            households = HouseholdRepository(connection, self._cipher)
            current = await households.get(household_id, for_update=True)
            if current is None or not reach.covers(current.grid_id, current.id):
                raise NotFound("household", household_id)
            erased = (
                rules.erase_household(current, now)
                if resident_id is None
                else rules.erase_resident(current, resident_id)
            )
            if not await households.save(erased, members_changed=True):
                raise Conflict(f"household {household_id} was changed meanwhile")
            await keep_version(households, erased, "erased", requested_by, now)
            stored = ErasureRepository(connection)
            removed = {
                "members": len(current.members) - len(erased.members),
                "keys_destroyed": await self._destroy_keys(current, resident_id),
                "history_versions": await stored.scrub_history(household_id, resident_id),
                "published_events": await self._outbox.forget_published(
                    connection, [str(household_id)]
                ),
                "access_request_copies": await AccessRequestRepository(
                    connection, self._cipher
                ).erase(household_id, resident_id),
            }
            erasure = Erasure(
                id=uuid.uuid4(),
                household_id=household_id,
                resident_id=resident_id,
                reason=reason,
                requested_by=requested_by,
                requested_at=now,
                removed={"registry": removed},
            )
            await stored.add(erasure)
            seals = events.Seals(await self._keys.keys_for(events.household_subjects(erased)))
            for event in _state_events(current, erased, now, seals):
                await self._outbox.add(connection, event)
            await self._outbox.add(
                connection,
                ErasureRequested(
                    erasure_id=erasure.id,
                    household_id=household_id,
                    resident_id=resident_id,
                    requested_at=now,
                ),
            )
        return erasure

    async def _destroy_keys(self, household: Household, resident_id: uuid.UUID | None) -> int:
        """Destroy the keys the subject's data travels sealed under (crypto-shredding): every
        copy in every topic, dead-letter topic, outbox and backup is unreadable from now on."""
        residents = (
            [resident_id]
            if resident_id is not None
            else [m.resident_id for m in household.members if m.resident_id is not None]
        )
        for resident in residents:
            await self._keys.destroy(resident, "resident")
        if resident_id is None:
            await self._keys.destroy(household.id, "household")
        return len(residents) + (1 if resident_id is None else 0)

    async def get(self, erasure_id: uuid.UUID, reach: Reach = EVERYWHERE) -> Erasure:
        async with self._database.connect() as connection:
            erasure = await ErasureRepository(connection).get(erasure_id)
            household = (
                None
                if erasure is None
                else await HouseholdRepository(connection, self._cipher).get(erasure.household_id)
            )
        if (
            erasure is None
            or household is None
            or not reach.covers(household.grid_id, household.id)
        ):
            raise NotFound("erasure", erasure_id)
        return erasure

    async def record_answer(self, event: ErasureApplied) -> None:
        """A service removed its copies; the last one completes the erasure."""
        now = self._clock.now()
        async with self._database.transaction() as connection:
            stored = ErasureRepository(connection)
            erasure = await stored.get(event.erasure_id, for_update=True)
            if erasure is None:
                return  # another registry's erasure (a shared topic in a test), or long pruned
            answered = rules.answered(erasure, event.service, event.removed, now)
            if answered == erasure:
                return
            await stored.save(answered)
            if answered.completed_at is not None:
                await self._outbox.add(
                    connection,
                    ErasureCompleted(
                        erasure_id=answered.id,
                        household_id=answered.household_id,
                        resident_id=answered.resident_id,
                        removed={s: dict(c) for s, c in answered.removed.items()},
                        completed_at=answered.completed_at,
                    ),
                )


def _state_events(
    before: Household, after: Household, now: datetime, seals: events.Seals
) -> list[HouseholdMembersChanged | HouseholdDeregistered]:
    """The household's new state, for the read models the other services keep."""
    changed: list[HouseholdMembersChanged | HouseholdDeregistered] = [
        HouseholdMembersChanged(
            household_id=after.id,
            members=events.members_v1(after, seals),
            changed_at=now,
            version=after.version,
        )
    ]
    if before.status is Status.ACTIVE and after.status is Status.DEREGISTERED:
        changed.append(
            HouseholdDeregistered(
                household_id=after.id,
                reason=rules.ERASED,
                deregistered_at=now,
                version=after.version,
            )
        )
    return changed
