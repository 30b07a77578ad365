"""The one path that changes a score, shared by the use cases (not a use case itself).

Every change to the ledger or its projection happens with the subject's account row locked
(`FOR UPDATE`), in one transaction with the events it announces (outbox): these helpers run
inside the calling use case's transaction and take its connection.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import date

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_credit.adapters.repository import LedgerRepository
from linli_credit.domain.ledger import Account, Entry, net_of
from linli_credit.domain.policy import Consent, Policy, PolicyBook
from linli_shared.clock import Clock
from linli_shared.contracts.credit import (
    AccountOpened,
    CreditSubjectKind,
    EntryRepaired,
    GradeChanged,
    GreenChannelLost,
    ScoreChanged,
)
from linli_shared.contracts.partner_credit import PartnerGradeChanged, PartnerGreenChannelRevoked
from linli_shared.errors import Conflict, NotFound
from linli_shared.messaging.outbox import Outbox
from linli_shared.reach import EVERYWHERE, Reach

log = logging.getLogger(__name__)


class Scoring:
    """The policies, the clock and the outbox, and what every score change goes through."""

    def __init__(self, outbox: Outbox, clock: Clock, policies: PolicyBook) -> None:
        self.outbox = outbox
        self.clock = clock
        self.policies = policies

    def policy_now(self) -> Policy:
        return self.policies.at(self.clock.now())

    def today(self) -> date:
        """The local date now, in the policy's time zone."""
        return self.policy_now().local_date(self.clock.now())

    # --- accounts ------------------------------------------------------------------------------

    async def open_account(
        self,
        connection: AsyncConnection,
        subject_id: uuid.UUID,
        subject_kind: CreditSubjectKind,
        *,
        community_id: str | None = None,
        consent: Consent | None = None,
        household_id: uuid.UUID | None = None,
        grid_id: str | None = None,
        announce: bool = False,
    ) -> Account:
        """The subject's account, locked; opened when it did not exist, and announced when
        opened from the registry (`announce`): an account that a subject's first inspection
        opens is not, so that event's chain holds only what the inspection caused. `grid_id`
        places a new account; only the registry's events move an existing one."""
        ledger = LedgerRepository(connection)
        account = await ledger.account(subject_id, for_update=True)
        if account is None:
            account = Account.open(
                subject_id,
                subject_kind,
                self.policy_now(),
                self.clock.now(),
                community_id=community_id,
                consent=consent or "unrecorded",
                household_id=household_id,
                grid_id=grid_id,
            )
            await ledger.add_account(account)
            if not announce:
                return account
            await self.outbox.add(
                connection,
                AccountOpened(
                    subject_id=subject_id,
                    subject_kind=subject_kind,
                    opened_at=account.opened_at,
                    community_id=community_id,
                    household_id=household_id,
                ),
            )
            return account
        return await self.placed(connection, account, community_id=community_id, consent=consent)

    async def placed(
        self,
        connection: AsyncConnection,
        account: Account,
        *,
        community_id: str | None = None,
        consent: Consent | None = None,
    ) -> Account:
        """The (locked) account with the community and consent an event states, saved if they
        changed it."""
        updated = replace(
            account,
            community_id=community_id or account.community_id,
            consent=consent or account.consent,
        )
        if updated != account:
            updated = await self.guard_green_channel(connection, updated)
            await LedgerRepository(connection).save_account(updated)
        return updated

    async def existing(
        self, connection: AsyncConnection, subject_id: uuid.UUID, reach: Reach = EVERYWHERE
    ) -> Account:
        """The subject's account, locked; outside the caller's grids it is not found."""
        account = await LedgerRepository(connection).account(subject_id, for_update=True)
        if account is None or not reach.covers(account.grid_id):
            raise NotFound("credit account", subject_id)
        return account

    def refused(self, account: Account, source_event_id: str) -> bool:
        """Whether the subject is not scored (logged: an event then makes no entry)."""
        refusal = account.refusal(self.policy_now())
        if refusal is not None:
            log.info("no entry for %s from %s: %s", account.subject_id, source_event_id, refusal)
        return refusal is not None

    def refuse_api(self, account: Account) -> None:
        """A request to score a subject that is not scored is a conflict naming why."""
        refusal = account.refusal(self.policy_now())
        if refusal is not None:
            raise Conflict(f"subject {account.subject_id} is not scored: {refusal}")

    # --- the one path that changes a score ---------------------------------------------------

    async def settle(self, connection: AsyncConnection, account: Account) -> Account:
        """Bring the projection to now: entries whose period ended stop counting (announced)."""
        ledger = LedgerRepository(connection)
        now = self.clock.now()
        due = await ledger.unsettled_expiries(account.subject_id, now)
        related = await ledger.entries_of(account.subject_id) if due else []
        for entry in due:
            await ledger.mark_expired(entry, now)
            if entry.is_penalty and entry.counts_until is not None and net_of(entry, related) < 0:
                await self.outbox.add(
                    connection,
                    EntryRepaired(
                        subject_id=account.subject_id,
                        subject_kind=account.subject_kind,
                        entry_id=entry.id,
                        how="expired",
                        repaired_at=entry.counts_until,
                    ),
                )
        policy = self.policies.at(now)
        balance = await ledger.balance_at(account.subject_id, now) if due else account.balance
        settled = account.rescore(balance, policy)
        return await self.announce_grade(connection, account, settled)

    async def post(self, connection: AsyncConnection, account: Account, entry: Entry) -> Account:
        """Append the entry, move the projection, announce the change (and what follows)."""
        ledger = LedgerRepository(connection)
        now = self.clock.now()
        account = await self.settle(connection, account)
        await ledger.add_entry(entry)
        if entry.counts_until is not None and entry.counts_until <= now:
            await ledger.mark_expired(entry, now)  # it never counts; nothing to settle later
        updated = account.post(entry, self.policies.at(now), now)
        await self.outbox.add(
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
                source_event_id=entry.source_event_id,
                occurred_at=entry.occurred_at,
            ),
        )
        updated = await self.announce_grade(connection, account, updated)
        await ledger.save_account(updated)
        return updated

    async def announce_grade(
        self, connection: AsyncConnection, before: Account, after: Account
    ) -> Account:
        if after.grade != before.grade:
            now = self.clock.now()
            await self.outbox.add(
                connection,
                GradeChanged(
                    subject_id=after.subject_id,
                    subject_kind=after.subject_kind,
                    grade_before=before.grade,
                    grade_after=after.grade,
                    score=after.score,
                    evaluated_at=now,
                ),
            )
            await self.outbox.add(
                connection,
                PartnerGradeChanged(
                    subject_id=after.subject_id,
                    subject_kind=after.subject_kind,
                    community_id=after.community_id,
                    grade_before=before.grade,
                    grade=after.grade,
                    effective_at=now,
                ),
            )
        return await self.guard_green_channel(connection, after)

    async def guard_green_channel(self, connection: AsyncConnection, account: Account) -> Account:
        """Losing the grade (or consent, or the account) loses the green channel at once;
        gaining it waits for the scheduled evaluation."""
        if not account.green_channel:
            return account
        policy = self.policies.at(self.clock.now())
        if account.refusal(policy) is None and policy.green_channel_for(account.grade):
            return account
        await self.outbox.add(
            connection,
            GreenChannelLost(
                subject_id=account.subject_id,
                subject_kind=account.subject_kind,
                grade=account.grade,
            ),
        )
        await self.outbox.add(
            connection,
            PartnerGreenChannelRevoked(
                subject_id=account.subject_id,
                subject_kind=account.subject_kind,
                community_id=account.community_id,
                grade=account.grade,
                effective_from=policy.local_date(self.clock.now()),
            ),
        )
        return replace(account, green_channel=False, green_valid_until=None)
