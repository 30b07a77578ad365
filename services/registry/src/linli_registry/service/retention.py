"""Retention: the registry's own categories of its retention policy (`policies/retention/`).

A deregistered household keeps its record (ids, community, grid, dates, versions) so that what
other services keep about it (cases, ledger entries, notices, all keyed by its id) still names a
household; once the policy's period after its deregistration has passed, it is erased as any
erasure is (`service/erasure.py`): its address, contact and members here, in every version of
its history, and in every service's copies.

An access request, once complete, is kept the policy's period after its completion, then goes
with every service's records it gathered (`access_answers`); one still in progress is kept.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, exists, or_, select

from linli_registry.adapters import tables
from linli_registry.domain.erasure import ERASED
from linli_registry.domain.household import Status
from linli_registry.service.erasure import ErasureUseCases
from linli_shared.db import Database
from linli_shared.retention import Sweep

SHIPPED_POLICIES = Path(__file__).resolve().parent.parent / "policies" / "retention"

DEREGISTERED_MEMBERS = "deregistered_members"
ACCESS_REQUESTS = "access_requests"
BY_RETENTION = "system:retention"


class RetentionUseCases:
    def __init__(self, database: Database, erasure: ErasureUseCases) -> None:
        self._database = database
        self._erasure = erasure

    async def erase_deregistered_households(self, before: datetime, batch_size: int) -> int:
        """Erase the households deregistered before `before`, each in its own transaction,
        `batch_size` found at a time; returns how many members were erased."""
        households, members = tables.households, tables.members
        due = (
            select(households.c.id)
            .where(
                households.c.status == Status.DEREGISTERED.value,
                households.c.deregistered_at < before,
                or_(
                    households.c.deregistration_reason.is_distinct_from(ERASED),
                    exists().where(members.c.household_id == households.c.id),
                ),
            )
            .order_by(households.c.deregistered_at, households.c.id)
            .limit(batch_size)
        )
        erased = 0
        while True:
            async with self._database.connect() as connection:
                ids = list((await connection.execute(due)).scalars())
            for household_id in ids:
                erasure = await self._erasure.erase(
                    household_id,
                    resident_id=None,
                    reason=f"retention: {DEREGISTERED_MEMBERS}",
                    requested_by=BY_RETENTION,
                )
                erased += erasure.removed["registry"]["members"]
            if len(ids) < batch_size:
                return erased

    async def delete_answered_access_requests(self, before: datetime, batch_size: int) -> int:
        """Delete the access requests completed before `before` and what they gathered,
        `batch_size` requests per transaction; returns how many requests went."""
        requests, answers = tables.access_requests, tables.access_answers
        due = (
            select(requests.c.id)
            .where(requests.c.completed_at < before)
            .order_by(requests.c.completed_at, requests.c.id)
            .limit(batch_size)
        )
        deleted = 0
        while True:
            async with self._database.transaction() as connection:
                ids = list((await connection.execute(due)).scalars())
                # Explicitly, not by the foreign key's cascade: SQLite does not enforce it.
                await connection.execute(
                    delete(answers).where(answers.c.access_request_id.in_(ids))
                )
                await connection.execute(delete(requests).where(requests.c.id.in_(ids)))
            deleted += len(ids)
            if len(ids) < batch_size:
                return deleted

    def sweeps(self) -> dict[str, Sweep]:
        return {
            DEREGISTERED_MEMBERS: self.erase_deregistered_households,
            ACCESS_REQUESTS: self.delete_answered_access_requests,
        }
