"""Rebuild: recompute every account's projection from the ledger (`linli credit rebuild`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from linli_credit.adapters.repository import LedgerRepository
from linli_credit.domain.ledger import evaluate
from linli_credit.service.scoring import Scoring
from linli_shared.db import Database

BATCH = 200


@dataclass(frozen=True)
class RebuildReport:
    accounts: int
    changed: list[uuid.UUID]


@dataclass(frozen=True)
class RebuildUseCases:
    _database: Database
    _scoring: Scoring

    async def rebuild(self, on_account: Callable[[], None] | None = None) -> RebuildReport:
        """Recompute every account's balance, score and grade from the ledger, announcing
        nothing. On a healthy ledger nothing changes; `changed` lists the accounts that did.
        `on_account` is called after each account (for a progress display). Accounts go by
        batches: one transaction locks a batch and reads all its entries in one query."""
        changed: list[uuid.UUID] = []
        count, after = 0, None
        while True:
            async with self._database.connect() as connection:
                subjects = await LedgerRepository(connection).subject_ids(after, BATCH)
            if not subjects:
                return RebuildReport(count, changed)
            async with self._database.transaction() as connection:
                ledger = LedgerRepository(connection)
                accounts = await ledger.accounts_for_update(subjects)
                entries = await ledger.entries_of_subjects(subjects)
                now = self._scoring.clock.now()
                policy = self._scoring.policies.at(now)
                for account in accounts:
                    evaluation = evaluate(entries.get(account.subject_id, []), policy, now)
                    rebuilt = account.rescore(evaluation.balance, evaluation.policy)
                    if rebuilt != account:
                        changed.append(account.subject_id)
                        await ledger.save_account(rebuilt)
            for _ in accounts:
                count += 1
                if on_account is not None:
                    on_account()
            after = subjects[-1]
