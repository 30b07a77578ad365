"""Erasures as stored, and the versions of a household's history an erasure scrubs."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_registry.adapters.tables import erasures, household_history
from linli_registry.domain.erasure import Erasure, scrubbed_summary


class ErasureRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, erasure: Erasure) -> None:
        await self._connection.execute(insert(erasures).values(**_row(erasure)))

    async def get(self, erasure_id: uuid.UUID, *, for_update: bool = False) -> Erasure | None:
        query = select(erasures).where(erasures.c.id == erasure_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).one_or_none()
        return None if row is None else _erasure(row)

    async def save(self, erasure: Erasure) -> None:
        await self._connection.execute(
            update(erasures)
            .where(erasures.c.id == erasure.id)
            .values(removed=_removed(erasure), completed_at=erasure.completed_at)
        )

    async def scrub_history(self, household_id: uuid.UUID, resident_id: uuid.UUID | None) -> int:
        """Every version of the household without the erased person; returns versions changed."""
        rows = await self._connection.execute(
            select(household_history.c.version, household_history.c.summary).where(
                household_history.c.household_id == household_id
            )
        )
        changed = 0
        for version, summary in rows.all():
            scrubbed = scrubbed_summary(summary, resident_id)
            if scrubbed != summary:
                await self._connection.execute(
                    update(household_history)
                    .where(
                        household_history.c.household_id == household_id,
                        household_history.c.version == version,
                    )
                    .values(summary=scrubbed)
                )
                changed += 1
        return changed


def _row(erasure: Erasure) -> dict[str, Any]:
    return {
        "id": erasure.id,
        "household_id": erasure.household_id,
        "resident_id": erasure.resident_id,
        "reason": erasure.reason,
        "requested_by": erasure.requested_by,
        "requested_at": erasure.requested_at,
        "removed": _removed(erasure),
        "completed_at": erasure.completed_at,
    }


def _removed(erasure: Erasure) -> dict[str, dict[str, int]]:
    return {service: dict(counts) for service, counts in erasure.removed.items()}


def _erasure(row: Any) -> Erasure:
    return Erasure(
        id=row.id,
        household_id=row.household_id,
        resident_id=row.resident_id,
        reason=row.reason,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        removed={
            str(s): {str(c): int(n) for c, n in counts.items()} for s, counts in row.removed.items()
        },
        completed_at=row.completed_at,
    )
