from __future__ import annotations

import uuid

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_credit.adapters.tables import accounts, entries
from linli_credit.domain.ledger import Account, Entry
from linli_shared.contracts.common import Severity, SubjectKind


class LedgerRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def account(self, subject_id: uuid.UUID, *, for_update: bool = False) -> Account | None:
        query = select(accounts).where(accounts.c.subject_id == subject_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).one_or_none()
        if row is None:
            return None
        return Account(
            subject_id=row.subject_id,
            subject_kind=SubjectKind(row.subject_kind),
            score=row.score,
            grade=row.grade,
            opened_at=row.opened_at,
        )

    async def add_account(self, account: Account) -> None:
        await self._connection.execute(
            insert(accounts).values(
                subject_id=account.subject_id,
                subject_kind=account.subject_kind.value,
                score=account.score,
                grade=account.grade,
                opened_at=account.opened_at,
            )
        )

    async def save_score(self, account: Account) -> None:
        await self._connection.execute(
            update(accounts)
            .where(accounts.c.subject_id == account.subject_id)
            .values(score=account.score, grade=account.grade)
        )

    async def add_entry(self, entry: Entry) -> None:
        await self._connection.execute(
            insert(entries).values(
                id=entry.id,
                subject_id=entry.subject_id,
                points=entry.points,
                reason_code=entry.reason_code,
                policy_version=entry.policy_version,
                source_event_id=entry.source_event_id,
                severity=entry.severity.value if entry.severity else None,
                occurred_at=entry.occurred_at,
                recorded_at=entry.recorded_at,
            )
        )

    async def has_entry_for(self, source_event_id: str) -> bool:
        found = await self._connection.scalar(
            select(entries.c.id).where(entries.c.source_event_id == source_event_id)
        )
        return found is not None

    async def entries_of(self, subject_id: uuid.UUID) -> list[Entry]:
        rows = await self._connection.execute(
            select(entries)
            .where(entries.c.subject_id == subject_id)
            .order_by(entries.c.recorded_at, entries.c.id)
        )
        return [_entry(row) for row in rows]


def _entry(row: Row[tuple[object, ...]]) -> Entry:
    mapping = row._mapping
    return Entry(
        id=mapping["id"],
        subject_id=mapping["subject_id"],
        points=mapping["points"],
        reason_code=mapping["reason_code"],
        policy_version=mapping["policy_version"],
        source_event_id=mapping["source_event_id"],
        severity=Severity(mapping["severity"]) if mapping["severity"] else None,
        occurred_at=mapping["occurred_at"],
        recorded_at=mapping["recorded_at"],
    )
