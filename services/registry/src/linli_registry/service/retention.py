"""Retention: the registry's own categories of its retention policy (`policies/retention/`).

A deregistered household keeps its skeleton (ids, community, grid, address, versions) so that
what other services keep about it (cases, ledger entries, notices, all keyed by its id) still
names a household; once the policy's period after its deregistration has passed, its members'
personal data is anonymised: names (here and in the household's versions), ID numbers with
their blind index and tail, phones and birth dates, and the household's contact.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_registry.adapters import tables
from linli_registry.domain.household import Status
from linli_shared.db import Database
from linli_shared.retention import Sweep

SHIPPED_POLICIES = Path(__file__).resolve().parent.parent / "policies" / "retention"

DEREGISTERED_MEMBERS = "deregistered_members"

# What an anonymised member is called from then on (the name column takes no NULL).
ANONYMISED_NAME = "(anonymised)"


class RetentionUseCases:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def anonymise_deregistered_members(self, before: datetime, batch_size: int) -> int:
        """Anonymise the members of households deregistered before `before`, `batch_size`
        households per transaction; returns how many members were anonymised."""
        households, members = tables.households, tables.members
        holds_personal_data = or_(
            members.c.name != ANONYMISED_NAME,
            members.c.birth_date.is_not(None),
            members.c.id_number_enc.is_not(None),
            members.c.id_number_index.is_not(None),
            members.c.id_tail.is_not(None),
            members.c.phone_enc.is_not(None),
        )
        due = (
            select(households.c.id)
            .where(
                households.c.status == Status.DEREGISTERED.value,
                households.c.deregistered_at < before,
                or_(
                    households.c.contact_email != "",
                    households.c.contact_phone_enc.is_not(None),
                    exists().where(members.c.household_id == households.c.id, holds_personal_data),
                ),
            )
            .order_by(households.c.deregistered_at, households.c.id)
            .limit(batch_size)
        )
        anonymised = 0
        while True:
            async with self._database.transaction() as connection:
                ids = list((await connection.execute(due)).scalars())
                if not ids:
                    return anonymised
                result = await connection.execute(
                    update(members)
                    .where(members.c.household_id.in_(ids), holds_personal_data)
                    .values(
                        name=ANONYMISED_NAME,
                        birth_date=None,
                        id_number_enc=None,
                        id_number_index=None,
                        id_tail=None,
                        phone_enc=None,
                    )
                )
                anonymised += result.rowcount
                await connection.execute(
                    update(households)
                    .where(households.c.id.in_(ids))
                    .values(contact_email="", contact_phone_enc=None)
                )
                await _anonymise_history(connection, ids)
            if len(ids) < batch_size:
                return anonymised

    def sweeps(self) -> dict[str, Sweep]:
        return {DEREGISTERED_MEMBERS: self.anonymise_deregistered_members}


async def _anonymise_history(connection: AsyncConnection, household_ids: list[uuid.UUID]) -> None:
    """The members' names in the households' versions (the summaries keep no other personal
    data: no ID numbers, phones or birth dates)."""
    history = tables.household_history
    rows = await connection.execute(
        select(history.c.household_id, history.c.version, history.c.summary).where(
            history.c.household_id.in_(household_ids)
        )
    )
    for household_id, version, summary in rows.all():
        members = summary.get("members") or []
        if all(member.get("name") == ANONYMISED_NAME for member in members):
            continue
        summary = {
            **summary,
            "members": [{**member, "name": ANONYMISED_NAME} for member in members],
        }
        await connection.execute(
            update(history)
            .where(and_(history.c.household_id == household_id, history.c.version == version))
            .values(summary=summary)
        )
