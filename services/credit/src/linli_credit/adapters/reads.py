"""The hot reads of the credit API (score, grade, green channel, explain) and the check's audit
row.

On PostgreSQL each is one statement on the asyncpg read pool (see linli_shared.read_pool); on
SQLite (embedded mode) the same through SQLAlchemy Core.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from linli_credit.adapters.repository import LedgerRepository, account_of, entry_of
from linli_credit.domain.ledger import Account, Entry
from linli_shared.db import Database

ACCOUNT = """
SELECT subject_id, subject_kind, score, grade, opened_at, balance, policy_version, community_id,
       consent, closed_at, green_channel, green_evaluated_at, green_valid_until, household_id,
       members_version, grid_id
FROM accounts WHERE subject_id = $1
"""

ENTRIES = """
SELECT id, subject_id, points, reason_code, policy_version, source_event_id, severity,
       occurred_at, recorded_at, rule, counts_until, refers_to, inspection_id, cause
FROM entries WHERE subject_id = $1 ORDER BY recorded_at, id
"""

ADD_CHECK = """
INSERT INTO green_channel_checks
    (subject_id, checked_by, checked_at, granted, grade, valid_until, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id
"""


class AccountReads:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def account(self, subject_id: uuid.UUID) -> Account | None:
        reads = self._database.reads
        if reads is None:
            async with self._database.connect() as connection:
                return await LedgerRepository(connection).account(subject_id)
        row = await reads.fetchrow(ACCOUNT, subject_id)
        return None if row is None else account_of(row)

    async def entries(self, subject_id: uuid.UUID) -> list[Entry]:
        """The subject's entries, oldest recorded first."""
        reads = self._database.reads
        if reads is None:
            async with self._database.connect() as connection:
                return await LedgerRepository(connection).entries_of(subject_id)
        return [entry_of(row) for row in await reads.fetch(ENTRIES, subject_id)]

    async def add_check(
        self,
        *,
        subject_id: uuid.UUID,
        checked_by: str,
        checked_at: datetime,
        granted: bool,
        grade: str | None,
        valid_until: date | None,
        reason: str | None,
    ) -> int:
        """Record a green-channel check (one autocommitted statement); its id."""
        reads = self._database.reads
        if reads is None:
            async with self._database.transaction() as connection:
                return await LedgerRepository(connection).add_check(
                    subject_id=subject_id,
                    checked_by=checked_by,
                    checked_at=checked_at,
                    granted=granted,
                    grade=grade,
                    valid_until=valid_until,
                    reason=reason,
                )
        check_id = await reads.fetchval(
            ADD_CHECK, subject_id, checked_by, checked_at, granted, grade, valid_until, reason
        )
        return int(check_id)
