"""Reads: a subject's account, its entries, why it is at its score, a community's grade report,
and the policies in force."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from linli_credit.adapters.reads import AccountReads
from linli_credit.adapters.repository import LedgerRepository
from linli_credit.domain.appeal import Appeal
from linli_credit.domain.ledger import Account, Entry, Evaluation, evaluate
from linli_credit.domain.policy import Policy, PolicyBook
from linli_credit.service.scoring import Scoring
from linli_shared.contracts.credit import CreditSubjectKind
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.pagination import MAX_LIMIT, PageRequest, Slice
from linli_shared.reach import EVERYWHERE, Reach
from linli_shared.rules import RuleViolation


@dataclass(frozen=True)
class Explanation:
    account: Account
    evaluation: Evaluation
    entries: list[Entry]
    scoring_refusal: str | None


# Green-channel checks shown in a data copy: the newest, far more than a household's lifetime's.
CHECKS_IN_A_COPY = 10_000


@dataclass(frozen=True)
class SubjectRecord:
    """One subject's record as credit holds it: the account, every entry, every appeal about
    it and every green-channel check of it (who asked, when, the answer)."""

    account: Account
    entries: list[Entry]
    appeals: list[Appeal]
    checks: list[dict[str, Any]]


@dataclass(frozen=True)
class DataCopy:
    """What credit holds about a resident: their own record, then their household's."""

    resident_id: uuid.UUID
    records: list[SubjectRecord]


@dataclass(frozen=True)
class GradeReport:
    community_id: str
    quarter: str
    at: datetime
    policy_version: str
    distribution: dict[str, int]
    red_list: list[tuple[uuid.UUID, int, str]]
    black_list: list[tuple[uuid.UUID, int, str]]


class ReadUseCases:
    def __init__(self, database: Database, scoring: Scoring) -> None:
        self._database = database
        self._reads = AccountReads(database)
        self._scoring = scoring

    @property
    def policies(self) -> PolicyBook:
        return self._scoring.policies

    def policy_now(self) -> Policy:
        return self._scoring.policy_now()

    def today(self) -> date:
        """The local date now, in the policy's time zone."""
        return self._scoring.today()

    def scoring_refusal(self, account: Account) -> str | None:
        return account.refusal(self.policy_now())

    async def household_of(self, resident_id: uuid.UUID) -> uuid.UUID | None:
        """The household the registry has this resident in now (from its resident account);
        None for a resident who left theirs, or one the ledger does not know."""
        account = await self._reads.account(resident_id)
        if (
            account is None
            or account.subject_kind is not CreditSubjectKind.RESIDENT
            or account.closed_at is not None
        ):
            return None
        return account.household_id

    async def account(self, subject_id: uuid.UUID, reach: Reach = EVERYWHERE) -> Account:
        """The subject's account; outside the caller's reach (its grids, or its own and its
        household's accounts) it is not found (its existence is not revealed)."""
        account = await self._reads.account(subject_id)
        if account is None or not reach.covers(account.grid_id, account.subject_id):
            raise NotFound("credit account", subject_id)
        return account

    async def entries(self, subject_id: uuid.UUID, reach: Reach = EVERYWHERE) -> list[Entry]:
        """All the subject's entries, oldest recorded first."""
        async with self._database.connect() as connection:
            ledger = LedgerRepository(connection)
            account = await ledger.account(subject_id)
            if account is None or not reach.covers(account.grid_id, account.subject_id):
                raise NotFound("credit account", subject_id)
            return await ledger.entries_of(subject_id)

    async def entries_page(
        self, subject_id: uuid.UUID, page: PageRequest, reach: Reach = EVERYWHERE
    ) -> Slice[Entry]:
        """One page of the subject's entries, oldest recorded first, and how many it has."""
        async with self._database.connect() as connection:
            ledger = LedgerRepository(connection)
            account = await ledger.account(subject_id)
            if account is None or not reach.covers(account.grid_id, account.subject_id):
                raise NotFound("credit account", subject_id)
            return await ledger.entries_page(subject_id, page)

    async def explain(
        self,
        subject_id: uuid.UUID,
        at: datetime | None = None,
        known_at: datetime | None = None,
        reach: Reach = EVERYWHERE,
    ) -> Explanation:
        """Why the subject is at its score and grade (now, or at a past instant)."""
        at = at or self._scoring.clock.now()
        found = await self._reads.account_and_entries(subject_id)
        if found is None or not reach.covers(found[0].grid_id, found[0].subject_id):
            raise NotFound("credit account", subject_id)
        account, entries = found
        policy = self._scoring.policies.at(at)
        return Explanation(
            account=account,
            evaluation=evaluate(entries, policy, at, known_at),
            entries=entries,
            scoring_refusal=account.refusal(policy),
        )

    async def data_copy(self, resident_id: uuid.UUID, reach: Reach = EVERYWHERE) -> DataCopy:
        """A copy of what credit holds about the resident: their own record and, while they are
        a member, their household's. Only the resident themself reaches it (and admins); anyone
        else's is not found, a household member's included."""
        async with self._database.connect() as connection:
            ledger = LedgerRepository(connection)
            resident = await ledger.account(resident_id)
            if (
                resident is None
                or resident.subject_kind is not CreditSubjectKind.RESIDENT
                or not reach.covers(resident.grid_id, resident_id)
            ):
                raise NotFound("resident", resident_id)
            accounts = [resident]
            if resident.household_id is not None and resident.closed_at is None:
                household = await ledger.account(resident.household_id)
                accounts += [household] if household is not None else []
            records = []
            for account in accounts:
                appeals: list[Appeal] = []
                while True:
                    found = await ledger.list_appeals(
                        state=None,
                        subject_id=account.subject_id,
                        due_by=None,
                        page=PageRequest(limit=MAX_LIMIT, offset=len(appeals)),
                    )
                    appeals += found.items
                    if not found.items or len(appeals) >= found.total:
                        break
                records.append(
                    SubjectRecord(
                        account,
                        await ledger.entries_of(account.subject_id),
                        appeals,
                        await ledger.checks_of(account.subject_id, CHECKS_IN_A_COPY),
                    )
                )
        return DataCopy(resident_id, records)

    async def grade_report(self, community_id: str, year: int, quarter: int) -> GradeReport:
        """A community's grade distribution and red/black lists at the end of a quarter (or now,
        for the running quarter). A quarter that has not begun has no figures yet; a community
        this ledger has no account in is unknown here."""
        policy = self.policy_now()
        first = date(year, 3 * (quarter - 1) + 1, 1)
        end = policy.start_of(_add_quarter(first))
        now = self._scoring.clock.now()
        if policy.start_of(first) > now:
            raise RuleViolation("quarter", f"{year}-Q{quarter} has not begun")
        at = min(end - timedelta(microseconds=1), now)
        policy = self._scoring.policies.at(at)
        async with self._database.connect() as connection:
            ledger = LedgerRepository(connection)
            if not await ledger.knows_community(community_id):
                raise NotFound("community", community_id)
            accounts = await ledger.community_accounts(community_id, at)
            balances = await ledger.balances_at([a.subject_id for a in accounts], at)
        distribution = {grade: 0 for grade, _ in policy.grade_floors} | {"C": 0}
        red: list[tuple[uuid.UUID, int, str]] = []
        black: list[tuple[uuid.UUID, int, str]] = []
        for account in accounts:
            if account.closed_at is not None and account.closed_at <= at:
                continue
            if account.refusal(policy) is not None:
                continue
            score = policy.score(balances.get(account.subject_id, 0))
            grade = policy.grade(score)
            distribution[grade] += 1
            if grade in policy.red_list_grades:
                red.append((account.subject_id, score, grade))
            if grade in policy.black_list_grades:
                black.append((account.subject_id, score, grade))
        return GradeReport(
            community_id=community_id,
            quarter=f"{year}-Q{quarter}",
            at=at,
            policy_version=policy.version,
            distribution=distribution,
            red_list=sorted(red, key=lambda r: (-r[1], str(r[0]))),
            black_list=sorted(black, key=lambda r: (r[1], str(r[0]))),
        )


def _add_quarter(first: date) -> date:
    month = first.month + 3
    return date(first.year + (month > 12), (month - 1) % 12 + 1, 1)
