from __future__ import annotations

import uuid

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_registry.adapters.tables import households, members
from linli_registry.domain.household import Household, Member


class HouseholdRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, household: Household) -> None:
        await self._connection.execute(
            insert(households).values(
                id=household.id,
                community_id=household.community_id,
                grid_id=household.grid_id,
                address=household.address,
                contact_email=household.contact_email,
                registered_at=household.registered_at,
                version=household.version,
            )
        )
        await self._connection.execute(
            insert(members),
            [
                {
                    "household_id": household.id,
                    "position": i,
                    "name": m.name,
                    "relation": m.relation,
                }
                for i, m in enumerate(household.members)
            ],
        )

    async def get(self, household_id: uuid.UUID) -> Household | None:
        row = (
            await self._connection.execute(
                select(households).where(households.c.id == household_id)
            )
        ).one_or_none()
        if row is None:
            return None
        member_rows = await self._connection.execute(
            select(members.c.name, members.c.relation)
            .where(members.c.household_id == household_id)
            .order_by(members.c.position)
        )
        return Household(
            id=row.id,
            community_id=row.community_id,
            grid_id=row.grid_id,
            address=row.address,
            members=tuple(Member(name=m.name, relation=m.relation) for m in member_rows),
            contact_email=row.contact_email,
            registered_at=row.registered_at,
            version=row.version,
        )
