"""How a service answers an erasure (docs/privacy.md): remove its copies and say what went.

Each service names what it removes (an `Eraser`, in its adapters); this applies it to an
`erasure.requested` inside the consumer's transaction, forgets the published events it still
keeps of the household and the resident, and answers with the service's `erasure.applied`, all
in one transaction: a redelivered request is claimed once, so it is answered once.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_shared.clock import Clock
from linli_shared.contracts.erasure import ErasureApplied, ErasureRequested
from linli_shared.db import Database
from linli_shared.messaging.outbox import Outbox

# What a service removes of a household (and, when given, of one resident of it): the number of
# rows or values it removed, by category.
Eraser = Callable[[AsyncConnection, uuid.UUID, uuid.UUID | None], Awaitable[dict[str, int]]]


@dataclass(frozen=True)
class ErasureAnswering:
    _database: Database
    _outbox: Outbox
    _clock: Clock
    _erase: Eraser
    _answer: type[ErasureApplied]

    async def apply(self, event: ErasureRequested) -> None:
        async with self._database.transaction() as connection:
            removed = await self._erase(connection, event.household_id, event.resident_id)
            keys = [str(event.household_id)]
            if event.resident_id is not None:
                keys.append(str(event.resident_id))
            removed["published_events"] = await self._outbox.forget_published(connection, keys)
            await self._outbox.add(
                connection,
                self._answer(
                    erasure_id=event.erasure_id,
                    household_id=event.household_id,
                    resident_id=event.resident_id,
                    removed=removed,
                    applied_at=self._clock.now(),
                ),
            )


async def scrub_notes(
    connection: AsyncConnection, table: Table, column: str, where: ColumnElement[bool]
) -> int:
    """Blank every "note" (free text that may name anyone) anywhere in a JSON column of the
    rows `where` selects, leaving the rest of each value as it was; how many notes went."""
    key = list(table.primary_key.columns)
    rows = await connection.execute(select(*key, table.c[column]).where(where))
    scrubbed = 0
    for row in rows.all():
        cleaned, count = _without_notes(row[-1])
        if count:
            await connection.execute(
                update(table)
                .where(*(part == row[i] for i, part in enumerate(key)))
                .values({column: cleaned})
            )
            scrubbed += count
    return scrubbed


def _without_notes(value: Any) -> tuple[Any, int]:
    if isinstance(value, list):
        items = [_without_notes(v) for v in value]
        return [item for item, _ in items], sum(n for _, n in items)
    if isinstance(value, dict):
        fields = {k: _without_notes(v) for k, v in value.items() if k != "note"}
        cleaned = {k: item for k, (item, _) in fields.items()}
        count = sum(n for _, n in fields.values())
        if "note" in value:
            cleaned["note"] = None
            count += 1 if value["note"] else 0
        return cleaned, count
    return value, 0
