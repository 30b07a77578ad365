"""Scheduled work of the worker: settle entries whose period ended, and evaluate grades and
green channels (granted by grade, valid for the policy's period; withdrawn when lost)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_credit.adapters.repository import LedgerRepository
from linli_credit.domain.ledger import Account
from linli_credit.service.scoring import Scoring
from linli_shared.aio import sleep_or_stop
from linli_shared.context import event_context
from linli_shared.contracts.credit import GreenChannelGranted
from linli_shared.contracts.partner_credit import PartnerGreenChannelGranted
from linli_shared.db import Database
from linli_shared.errors import NotFound

log = logging.getLogger(__name__)

BATCH = 200


@dataclass(frozen=True)
class ScheduledUseCases:
    _database: Database
    _scoring: Scoring

    async def run_scheduled(self, stop: asyncio.Event, interval: float) -> None:
        """The worker's background task: expire entries, evaluate grades and green channels."""
        while not stop.is_set():
            await sleep_or_stop(stop, interval)
            if stop.is_set():
                return
            try:
                expired = await self.expire_due()
                evaluated = await self.evaluate_due()
                log.info("scheduled credit work: %d expiries, %d evaluations", expired, evaluated)
            except Exception:
                log.exception("scheduled credit work failed; retrying next round")

    async def expire_due(self) -> int:
        """Settle every entry whose counting period ended: projection, events. Returns a count."""
        settled = 0
        while True:
            now = self._scoring.clock.now()
            async with self._database.connect() as connection:
                subjects = await LedgerRepository(connection).subjects_with_expiries(now, BATCH)
            progress = 0
            for subject_id in subjects:
                with event_context(f"credit-expiry-{uuid.uuid4()}"):
                    async with self._database.transaction() as connection:
                        ledger = LedgerRepository(connection)
                        account = await ledger.account(subject_id, for_update=True)
                        if account is None:
                            log.error("entries of %s have no account; not settled", subject_id)
                            continue
                        progress += len(await ledger.unsettled_expiries(subject_id, now))
                        settled_account = await self._scoring.settle(connection, account)
                        await ledger.save_account(settled_account)
            if progress == 0:
                return settled
            settled += progress

    async def evaluate_due(self) -> int:
        """Re-evaluate accounts not evaluated within the policy's interval: grade, green channel."""
        evaluated = 0
        while True:
            now = self._scoring.clock.now()
            policy = self._scoring.policies.at(now)
            cutoff = now - timedelta(days=policy.green_channel_evaluate_every_days)
            async with self._database.connect() as connection:
                subjects = await LedgerRepository(connection).due_for_evaluation(cutoff, BATCH)
            if not subjects:
                return evaluated
            for subject_id in subjects:
                with event_context(f"credit-evaluation-{uuid.uuid4()}"):
                    await self.evaluate(subject_id)
                evaluated += 1

    async def evaluate(self, subject_id: uuid.UUID) -> Account:
        """Grade evaluation of one subject now: the current policy, the green channel granted
        or withdrawn by grade, valid for the policy's period."""
        async with self._database.transaction() as connection:
            return await self._evaluate(connection, subject_id)

    async def _evaluate(self, connection: AsyncConnection, subject_id: uuid.UUID) -> Account:
        ledger = LedgerRepository(connection)
        account = await ledger.account(subject_id, for_update=True)
        if account is None:
            raise NotFound("credit account", subject_id)
        account = await self._scoring.settle(connection, account)
        now = self._scoring.clock.now()
        policy = self._scoring.policies.at(now)
        today = policy.local_date(now)
        eligible = account.refusal(policy) is None and policy.green_channel_for(account.grade)
        if eligible:
            valid_until = today + timedelta(days=policy.green_channel_valid_days)
            if not account.holds_green_channel(today):
                await self._scoring.outbox.add(
                    connection,
                    GreenChannelGranted(
                        subject_id=account.subject_id,
                        subject_kind=account.subject_kind,
                        grade=account.grade,
                        valid_until=valid_until,
                    ),
                )
                await self._scoring.outbox.add(
                    connection,
                    PartnerGreenChannelGranted(
                        subject_id=account.subject_id,
                        subject_kind=account.subject_kind,
                        community_id=account.community_id,
                        grade=account.grade,
                        effective_from=today,
                        valid_until=valid_until,
                    ),
                )
            account = replace(
                account, green_channel=True, green_evaluated_at=now, green_valid_until=valid_until
            )
        else:
            account = await self._scoring.guard_green_channel(connection, account)
            account = replace(account, green_evaluated_at=now)
        await ledger.save_account(account)
        return account
