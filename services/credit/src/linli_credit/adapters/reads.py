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

# The explanation's account and entries in one statement (one round trip, one snapshot): the
# account's columns on every row, each entry's beside them under `e_` (none: no entries).
ACCOUNT_AND_ENTRIES = """
SELECT a.subject_id, a.subject_kind, a.score, a.grade, a.opened_at, a.balance, a.policy_version,
       a.community_id, a.consent, a.closed_at, a.green_channel, a.green_evaluated_at,
       a.green_valid_until, a.household_id, a.members_version, a.grid_id,
       e.id AS e_id, e.subject_id AS e_subject_id, e.points AS e_points,
       e.reason_code AS e_reason_code, e.policy_version AS e_policy_version,
       e.source_event_id AS e_source_event_id, e.severity AS e_severity,
       e.occurred_at AS e_occurred_at, e.recorded_at AS e_recorded_at, e.rule AS e_rule,
       e.counts_until AS e_counts_until, e.refers_to AS e_refers_to,
       e.inspection_id AS e_inspection_id, e.cause AS e_cause
FROM accounts a LEFT JOIN entries e ON e.subject_id = a.subject_id
WHERE a.subject_id = $1
ORDER BY e.recorded_at, e.id
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

    async def account_and_entries(
        self, subject_id: uuid.UUID
    ) -> tuple[Account, list[Entry]] | None:
        """The subject's account and its entries, oldest recorded first (None: no account)."""
        reads = self._database.reads
        if reads is None:
            async with self._database.connect() as connection:
                ledger = LedgerRepository(connection)
                account = await ledger.account(subject_id)
                if account is None:
                    return None
                return account, await ledger.entries_of(subject_id)
        rows = await reads.fetch(ACCOUNT_AND_ENTRIES, subject_id)
        if not rows:
            return None
        entries = [entry_of(row, "e_") for row in rows if row["e_id"] is not None]
        return account_of(rows[0]), entries

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
