"""Access and copy (docs/privacy.md): a resident's data-subject request, answered by every
service.

The registry finds the resident (by id, or by their exact ID number through the blind index),
keeps its own records of them and a key pair made for this request alone (the private key
encrypted under its key ring), and announces `access.requested` with the public key. Each
service answers with its records sealed to that key; the registry opens each answer as it comes,
keeps it encrypted under its ring, and once every service has answered completes the request and
drops the private key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from linli_registry.adapters.access_requests import AccessRequestRepository
from linli_registry.adapters.repository import HouseholdRepository
from linli_registry.domain import access as rules
from linli_registry.domain.access import AccessRequest
from linli_shared.access import Collector
from linli_shared.clock import Clock
from linli_shared.contracts.access import (
    AccessAnswered,
    AccessRecords,
    AccessRequested,
    access_context,
)
from linli_shared.crypto import FieldCipher, new_key_pair, open_sealed
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.messaging.outbox import Outbox
from linli_shared.reach import EVERYWHERE, Reach


@dataclass(frozen=True)
class Export:
    """An access request with every service's records as opened: None where an erasure of the
    resident or household removed them."""

    request: AccessRequest
    records: dict[str, list[dict[str, Any]] | None]


@dataclass(frozen=True)
class AccessUseCases:
    _database: Database
    _outbox: Outbox
    _clock: Clock
    _cipher: FieldCipher
    _own: Collector

    async def request(
        self,
        *,
        resident_id: uuid.UUID | None,
        id_number: str | None,
        reason: str,
        requested_by: str,
        reach: Reach = EVERYWHERE,
    ) -> AccessRequest:
        """Start a request for what every service holds about the resident (named by id or by
        their exact ID number); outside the caller's reach the resident is not found."""
        now = self._clock.now()
        async with self._database.connect() as connection:
            households = HouseholdRepository(connection, self._cipher)
            if id_number is not None:
                found = await households.resident_with_id_number(id_number)
                resident_id = found[0] if found is not None else None
            household_id = (
                None if resident_id is None else await households.household_of(resident_id)
            )
            household = None if household_id is None else await households.get(household_id)
        if (
            resident_id is None
            or household is None
            or not reach.covers(household.grid_id, household.id)
        ):
            raise NotFound("resident", resident_id if id_number is None else "with this ID number")
        records = await self._own(resident_id, household.id)
        private_key, public_key = new_key_pair()
        request = AccessRequest(
            id=uuid.uuid4(),
            household_id=household.id,
            resident_id=resident_id,
            reason=reason,
            requested_by=requested_by,
            requested_at=now,
        )
        async with self._database.transaction() as connection:
            stored = AccessRequestRepository(connection, self._cipher)
            await stored.add(request, private_key)
            await stored.add_answer(
                request.id,
                "registry",
                [r.model_dump(mode="json") for r in records],
                len(records),
                now,
            )
            await self._outbox.add(
                connection,
                AccessRequested(
                    access_request_id=request.id,
                    household_id=household.id,
                    resident_id=resident_id,
                    public_key=public_key,
                    requested_at=now,
                ),
            )
        return rules.answered(request, "registry", len(records), now)

    async def get(self, request_id: uuid.UUID, reach: Reach = EVERYWHERE) -> AccessRequest:
        return (await self._reached(request_id, reach, with_records=False)).request

    async def export(self, request_id: uuid.UUID, reach: Reach = EVERYWHERE) -> Export:
        """The request with every service's records (as far as they have answered)."""
        return await self._reached(request_id, reach, with_records=True)

    async def _reached(self, request_id: uuid.UUID, reach: Reach, *, with_records: bool) -> Export:
        async with self._database.connect() as connection:
            stored = AccessRequestRepository(connection, self._cipher)
            request = await stored.get(request_id)
            household = (
                None
                if request is None
                else await HouseholdRepository(connection, self._cipher).get(request.household_id)
            )
            if (
                request is None
                or household is None
                or not reach.covers(household.grid_id, household.id)
            ):
                raise NotFound("access request", request_id)
            records = await stored.records(request_id) if with_records else {}
        return Export(request, records)

    async def record_answer(self, event: AccessAnswered) -> None:
        """A service's records of the resident, opened and kept; the last answer completes the
        request. A seal that does not open raises (the event is dead-lettered, never dropped)."""
        now = self._clock.now()
        async with self._database.transaction() as connection:
            stored = AccessRequestRepository(connection, self._cipher)
            request = await stored.get(event.access_request_id, for_update=True)
            if request is None:
                return  # another registry's request (a shared topic in a test)
            answered = rules.answered(request, event.service, event.record_count, now)
            if answered == request:
                return
            private_key = await stored.private_key(request.id)
            records = None
            if private_key is not None:  # None: an erasure of the resident came first
                opened = open_sealed(
                    private_key,
                    event.records_sealed,
                    access_context(event.access_request_id, event.service),
                )
                found = AccessRecords.model_validate_json(opened).records
                records = [r.model_dump(mode="json") for r in found]
            await stored.add_answer(request.id, event.service, records, event.record_count, now)
            if answered.completed_at is not None:
                await stored.complete(request.id, answered.completed_at)
