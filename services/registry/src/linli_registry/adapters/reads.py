"""The hot read of the registry API: a household by id, with its members, in one statement.

On PostgreSQL it runs on the asyncpg read pool (see linli_shared.read_pool); on SQLite
(embedded mode) through the SQLAlchemy Core repository.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from linli_registry.adapters.repository import HouseholdRepository, household_of
from linli_registry.domain.household import Household, Member
from linli_shared.crypto import FieldCipher
from linli_shared.db import Database

HOUSEHOLD = """
SELECT h.*,
       (SELECT coalesce(json_agg(json_build_object(
                   'name', m.name, 'relation', m.relation, 'birth_date', m.birth_date,
                   'id_number_enc', m.id_number_enc, 'phone_enc', m.phone_enc,
                   'resident_id', m.resident_id)
               ORDER BY m.position), '[]')
        FROM members m WHERE m.household_id = h.id) AS member_rows
FROM households h WHERE h.id = $1
"""


class HouseholdReads:
    def __init__(self, database: Database, cipher: FieldCipher) -> None:
        self._database = database
        self._cipher = cipher

    async def household(self, household_id: uuid.UUID) -> Household | None:
        reads = self._database.reads
        if reads is None:
            async with self._database.connect() as connection:
                return await HouseholdRepository(connection, self._cipher).get(household_id)
        row = await reads.fetchrow(HOUSEHOLD, household_id)
        if row is None:
            return None
        return household_of(row, [self._member(m) for m in row["member_rows"]], self._cipher)

    def _member(self, columns: dict[str, Any]) -> Member:
        birth_date = columns["birth_date"]
        return Member(
            name=columns["name"],
            relation=columns["relation"],
            birth_date=date.fromisoformat(birth_date) if birth_date else None,
            id_number=self._cipher.decrypt_optional(columns["id_number_enc"]),
            phone=self._cipher.decrypt_optional(columns["phone_enc"]),
            resident_id=uuid.UUID(columns["resident_id"]),
        )
