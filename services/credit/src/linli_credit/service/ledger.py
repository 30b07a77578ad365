"""Credit use cases; handlers call them inside the consumer's transaction (with the inbox)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_credit.adapters.repository import LedgerRepository
from linli_credit.domain.ledger import Account, Entry, failed_inspection_entry
from linli_credit.domain.policy import Policy
from linli_shared.clock import Clock
from linli_shared.contracts.common import SubjectKind
from linli_shared.contracts.credit import ScoreChanged
from linli_shared.contracts.inspections import InspectionFailed
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.messaging.outbox import Outbox


class CreditService:
    def __init__(self, database: Database, outbox: Outbox, clock: Clock, policy: Policy) -> None:
        self._database = database
        self._outbox = outbox
        self._clock = clock
        self._policy = policy

    async def open_account(
        self, connection: AsyncConnection, subject_id: uuid.UUID, subject_kind: SubjectKind
    ) -> Account:
        ledger = LedgerRepository(connection)
        account = await ledger.account(subject_id, for_update=True)
        if account is None:
            account = Account.open(subject_id, subject_kind, self._policy, self._clock.now())
            await ledger.add_account(account)
        return account

    async def record_failed_inspection(
        self, connection: AsyncConnection, event: InspectionFailed, source_event_id: str
    ) -> Entry | None:
        """One entry per failed inspection; None when this event already made its entry."""
        ledger = LedgerRepository(connection)
        if await ledger.has_entry_for(source_event_id):
            return None
        account = await self.open_account(connection, event.subject_id, event.subject_kind)
        entry = failed_inspection_entry(
            account,
            severity=event.severity,
            source_event_id=source_event_id,
            occurred_at=event.inspected_at,
            policy=self._policy,
            now=self._clock.now(),
        )
        updated = account.post(entry, self._policy)
        await ledger.add_entry(entry)
        await ledger.save_score(updated)
        await self._outbox.add(
            connection,
            ScoreChanged(
                subject_id=account.subject_id,
                subject_kind=account.subject_kind,
                entry_id=entry.id,
                reason_code=entry.reason_code,
                points=entry.points,
                score_before=account.score,
                score_after=updated.score,
                grade_before=account.grade,
                grade_after=updated.grade,
                policy_version=entry.policy_version,
                source_event_id=source_event_id,
                occurred_at=entry.occurred_at,
            ),
        )
        return entry

    async def account(self, subject_id: uuid.UUID) -> Account:
        async with self._database.connect() as connection:
            account = await LedgerRepository(connection).account(subject_id)
        if account is None:
            raise NotFound("credit account", subject_id)
        return account

    async def entries(self, subject_id: uuid.UUID) -> list[Entry]:
        async with self._database.connect() as connection:
            ledger = LedgerRepository(connection)
            if await ledger.account(subject_id) is None:
                raise NotFound("credit account", subject_id)
            return await ledger.entries_of(subject_id)
