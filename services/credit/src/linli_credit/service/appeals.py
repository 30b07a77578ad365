"""Appeals against ledger entries: filed by staff (for a resident or themselves), decided by a
credit officer; an upheld appeal reverses the entry and what followed from it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import timedelta

from linli_credit.adapters.repository import LedgerRepository
from linli_credit.domain.appeal import Appeal, AppealConflict, Outcome, file_appeal
from linli_credit.domain.ledger import appeal_reversals
from linli_credit.service.scoring import Scoring
from linli_shared.contracts.credit import AppealDecided, AppealReceived
from linli_shared.db import Database
from linli_shared.errors import Conflict, NotFound
from linli_shared.pagination import PageRequest, Slice
from linli_shared.reach import EVERYWHERE, OutsideGrids, Reach


@dataclass(frozen=True)
class AppealUseCases:
    _database: Database
    _scoring: Scoring

    async def file_appeal(
        self, entry_id: uuid.UUID, *, grounds: str, filed_by: str, reach: Reach = EVERYWHERE
    ) -> Appeal:
        """An appeal against the entry; one about a subject outside the caller's grids is
        refused (403 naming `entry_id`), one outside the reach of a caller of no grid (a party
        appealing its own entries) is not found."""
        async with self._database.transaction() as connection:
            ledger = LedgerRepository(connection)
            entry = await ledger.entry(entry_id)
            if entry is None:
                raise NotFound("ledger entry", entry_id)
            account = await self._scoring.existing(connection, entry.subject_id)
            if not reach.covers(account.grid_id, account.subject_id):
                if not reach.grids:
                    # A caller of no grid (a resident, an organisation) knows only its own
                    # entries: another's reads as absent.
                    raise NotFound("ledger entry", entry_id)
                raise OutsideGrids("entry_id", account.grid_id)
            try:
                appeal = file_appeal(
                    entry,
                    await ledger.entries_of(entry.subject_id),
                    await ledger.appeals_of_entry(entry_id),
                    grounds=grounds,
                    filed_by=filed_by,
                    policy=self._scoring.policy_now(),
                    now=self._scoring.clock.now(),
                )
            except AppealConflict as error:
                raise Conflict(str(error)) from error
            await ledger.add_appeal(appeal)
            await self._scoring.outbox.add(
                connection,
                AppealReceived(
                    subject_id=account.subject_id,
                    subject_kind=account.subject_kind,
                    appeal_id=appeal.id,
                    entry_id=entry_id,
                    filed_by=filed_by,
                    decide_by=appeal.decide_by,
                ),
            )
            return appeal

    async def decide_appeal(
        self,
        appeal_id: uuid.UUID,
        *,
        outcome: Outcome,
        reason: str,
        decided_by: str,
        reach: Reach = EVERYWHERE,
    ) -> Appeal:
        async with self._database.transaction() as connection:
            ledger = LedgerRepository(connection)
            found = await ledger.appeal(appeal_id)
            if found is None:
                raise NotFound("appeal", appeal_id)
            account = await self._scoring.existing(connection, found.subject_id)
            if not reach.covers(account.grid_id, account.subject_id):
                raise NotFound("appeal", appeal_id)
            appeal = await ledger.appeal(appeal_id, for_update=True)
            if appeal is None:  # appeals are never deleted; kept for the type
                raise NotFound("appeal", appeal_id)
            now = self._scoring.clock.now()
            reversal_id = None
            try:
                decided = appeal.decide(outcome, reason=reason, decided_by=decided_by, now=now)
            except AppealConflict as error:
                raise Conflict(str(error)) from error
            if outcome == "upheld":
                target = await ledger.entry(appeal.entry_id)
                if target is None:  # entries are never deleted; kept for the type
                    raise NotFound("ledger entry", appeal.entry_id)
                reversals = appeal_reversals(
                    target,
                    await ledger.entries_of(appeal.subject_id),
                    appeal_id=appeal.id,
                    policy=self._scoring.policies.at(now),
                    now=now,
                )
                for reversal in reversals:
                    account = await self._scoring.post(connection, account, reversal)
                reversal_id = next((r.id for r in reversals if r.refers_to == target.id), None)
                decided = replace(decided, reversal_entry_id=reversal_id)
            await ledger.save_appeal(decided)
            await self._scoring.outbox.add(
                connection,
                AppealDecided(
                    subject_id=account.subject_id,
                    subject_kind=account.subject_kind,
                    appeal_id=appeal.id,
                    entry_id=appeal.entry_id,
                    outcome=outcome,
                    reason=decided.decision_reason or reason,
                    decided_by=decided_by,
                    reversal_entry_id=reversal_id,
                ),
            )
            return decided

    async def appeal(self, appeal_id: uuid.UUID, reach: Reach = EVERYWHERE) -> Appeal:
        async with self._database.connect() as connection:
            ledger = LedgerRepository(connection)
            appeal = await ledger.appeal(appeal_id)
            account = None if appeal is None else await ledger.account(appeal.subject_id)
        if (
            appeal is None
            or account is None
            or not reach.covers(account.grid_id, account.subject_id)
        ):
            raise NotFound("appeal", appeal_id)
        return appeal

    async def list_appeals(
        self,
        *,
        state: str | None = None,
        subject_id: uuid.UUID | None = None,
        overdue: bool = False,
        page: PageRequest = PageRequest(),
        reach: Reach = EVERYWHERE,
    ) -> Slice[Appeal]:
        """Appeals, oldest first; `overdue`: those received and past their decision date."""
        due_by = None
        if overdue:
            state = "received"
            due_by = self._scoring.today() - timedelta(days=1)
        async with self._database.connect() as connection:
            return await LedgerRepository(connection).list_appeals(
                state=state,
                subject_id=subject_id,
                due_by=due_by,
                page=page,
                grids=reach.grids,
                parties=reach.parties,
            )
