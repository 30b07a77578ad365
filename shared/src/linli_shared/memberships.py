"""Which household each resident is in, as the registry's versioned members lists say.

Notify and inspections keep it from `household.registered` and `household.members-changed`
(each list carries the household's version): a list replaces the household's residents only if it
is newer than the one applied, and a resident listed in a new household leaves the old one. Like
the inbox: the same table in each service (its own migration), one mechanism here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Column, Integer, MetaData, Table, Uuid, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection


def household_members_table(metadata: MetaData) -> Table:
    return Table(
        "household_members",
        metadata,
        Column("resident_id", Uuid, primary_key=True),
        Column("household_id", Uuid, nullable=False, index=True),
        Column("version", Integer, nullable=False),
    )


class HouseholdMembers:
    def __init__(self, connection: AsyncConnection, table: Table) -> None:
        self._connection = connection
        self._table = table

    async def household_of(self, resident_id: uuid.UUID) -> uuid.UUID | None:
        table = self._table
        household: uuid.UUID | None = await self._connection.scalar(
            select(table.c.household_id).where(table.c.resident_id == resident_id)
        )
        return household

    async def of(self, household_id: uuid.UUID) -> list[uuid.UUID]:
        """The household's residents, in id order."""
        table = self._table
        rows = await self._connection.scalars(
            select(table.c.resident_id)
            .where(table.c.household_id == household_id)
            .order_by(table.c.resident_id)
        )
        return list(rows)

    async def forget(self, resident_id: uuid.UUID) -> int:
        """Forget the resident (an erasure); returns rows removed."""
        result = await self._connection.execute(
            delete(self._table).where(self._table.c.resident_id == resident_id)
        )
        return int(result.rowcount or 0)

    async def put(
        self, household_id: uuid.UUID, resident_ids: Sequence[uuid.UUID], version: int
    ) -> bool:
        """The household's members are these residents, as of `version` of its list; False
        (nothing changes) when a list as new was applied already. A resident listed elsewhere
        before is this household's now."""
        table, connection = self._table, self._connection
        applied = await connection.scalar(
            select(func.max(table.c.version)).where(table.c.household_id == household_id)
        )
        if applied is not None and applied >= version:
            return False
        await connection.execute(delete(table).where(table.c.household_id == household_id))
        listed = sorted(set(resident_ids))
        if listed:
            await connection.execute(delete(table).where(table.c.resident_id.in_(listed)))
            await connection.execute(
                insert(table),
                [
                    {"resident_id": r, "household_id": household_id, "version": version}
                    for r in listed
                ],
            )
        return True
