"""How a service answers an access request (docs/privacy.md, "Access and copy"): collect what it
holds about the resident and answer with it sealed to the request's public key.

Each service names what it holds (a `Collector`, built in its composition root from its own
data copy); this applies it to an `access.requested` inside the consumer's transaction and adds
the service's `access.answered` to its outbox there: a redelivered request is claimed once, so it
is answered once. The records travel sealed: only the registry, which holds the private key,
opens them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from linli_shared.clock import Clock
from linli_shared.contracts.access import (
    AccessAnswered,
    AccessRecord,
    AccessRecords,
    AccessRequested,
    access_context,
)
from linli_shared.crypto import seal_to
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.messaging.outbox import Outbox

_Copy = TypeVar("_Copy")

# What a service holds about a resident (of a household): its records, none where it has none.
Collector = Callable[[uuid.UUID, uuid.UUID], Awaitable[list[AccessRecord]]]


@dataclass(frozen=True)
class AccessAnswering:
    _database: Database
    _outbox: Outbox
    _clock: Clock
    _collect: Collector
    _answer: type[AccessAnswered]

    async def apply(self, event: AccessRequested) -> None:
        records = await self._collect(event.resident_id, event.household_id)
        sealed = seal_to(
            event.public_key,
            AccessRecords(records=records).model_dump_json().encode(),
            access_context(event.access_request_id, self._answer.service),
        )
        async with self._database.transaction() as connection:
            await self._outbox.add(
                connection,
                self._answer(
                    access_request_id=event.access_request_id,
                    household_id=event.household_id,
                    resident_id=event.resident_id,
                    record_count=len(records),
                    records_sealed=sealed,
                    answered_at=self._clock.now(),
                ),
            )


def from_data_copy(
    copy: Callable[[uuid.UUID], Awaitable[_Copy]], records: Callable[[_Copy], list[AccessRecord]]
) -> Collector:
    """A collector from a service's data copy of a resident (its use case, at no reach limit)
    and how the copy splits into records; a resident the service does not know has none."""

    async def collect(resident_id: uuid.UUID, household_id: uuid.UUID) -> list[AccessRecord]:
        try:
            found = await copy(resident_id)
        except NotFound:
            return []
        return records(found)

    return collect
