from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_credit.adapters.tables import (
    accounts,
    appeals,
    entries,
    expired_entries,
    green_channel_checks,
)
from linli_credit.domain.appeal import Appeal
from linli_credit.domain.ledger import Account, Entry
from linli_credit.domain.policy import Cap, Policy
from linli_shared.contracts.common import Severity
from linli_shared.contracts.credit import CreditSubjectKind
from linli_shared.pagination import PageRequest, Slice


def counting_at(at: datetime) -> ColumnElement[bool]:
    """SQL for Entry.counts_at: took effect by `at` and has not stopped counting."""
    return and_(
        or_(entries.c.occurred_at <= at, entries.c.recorded_at <= at),
        or_(entries.c.counts_until.is_(None), entries.c.counts_until > at),
    )


class LedgerRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    # --- accounts (the projection) ---------------------------------------------------------

    async def account(self, subject_id: uuid.UUID, *, for_update: bool = False) -> Account | None:
        query = select(accounts).where(accounts.c.subject_id == subject_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).one_or_none()
        return None if row is None else _account(row)

    async def account_for_event(
        self, subject_id: uuid.UUID, source_event_id: str
    ) -> tuple[Account | None, bool]:
        """The subject's account, locked, and whether the event has made its entry already;
        one statement where there is an account (the posting path's first)."""
        row = (
            await self._connection.execute(
                _ACCOUNT_FOR_EVENT, {"subject": subject_id, "source": source_event_id}
            )
        ).one_or_none()
        if row is None:
            return None, await self.has_entry_for(source_event_id)
        return _account(row), bool(row.posted)

    async def accounts_for_update(self, subject_ids: Sequence[uuid.UUID]) -> list[Account]:
        """The accounts, locked, in subject order (the order every batch locks them in)."""
        rows = await self._connection.execute(
            select(accounts)
            .where(accounts.c.subject_id.in_(subject_ids))
            .order_by(accounts.c.subject_id)
            .with_for_update()
        )
        return [_account(row) for row in rows]

    async def add_account(self, account: Account) -> None:
        await self._connection.execute(insert(accounts), _account_values(account))

    async def save_account(self, account: Account) -> None:
        values = _account_values(account)
        values["account"] = values.pop("subject_id")
        await self._connection.execute(_SAVE_ACCOUNT, values)

    async def residents_of(
        self, household_id: uuid.UUID, *, for_update: bool = False
    ) -> list[Account]:
        """The open resident accounts of a household (its current members), by id."""
        query = (
            select(accounts)
            .where(
                accounts.c.household_id == household_id,
                accounts.c.subject_kind == CreditSubjectKind.RESIDENT.value,
                accounts.c.closed_at.is_(None),
            )
            .order_by(accounts.c.subject_id)
        )
        if for_update:
            query = query.with_for_update()
        return [_account(row) for row in await self._connection.execute(query)]

    async def save_score(self, account: Account) -> None:
        await self.save_account(account)

    async def subject_ids(self, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
        query = select(accounts.c.subject_id).order_by(accounts.c.subject_id).limit(limit)
        if after is not None:
            query = query.where(accounts.c.subject_id > after)
        return list((await self._connection.scalars(query)).all())

    async def due_for_evaluation(self, before: datetime, limit: int) -> list[uuid.UUID]:
        query = (
            select(accounts.c.subject_id)
            .where(
                or_(
                    accounts.c.green_evaluated_at.is_(None),
                    accounts.c.green_evaluated_at < before,
                ),
                or_(accounts.c.closed_at.is_(None), accounts.c.green_channel.is_(True)),
            )
            .order_by(accounts.c.subject_id)
            .limit(limit)
        )
        return list((await self._connection.scalars(query)).all())

    async def knows_community(self, community_id: str) -> bool:
        """Whether any account (ever opened) is in the community."""
        found = await self._connection.scalar(
            select(accounts.c.subject_id).where(accounts.c.community_id == community_id).limit(1)
        )
        return found is not None

    async def community_accounts(self, community_id: str, opened_by: datetime) -> list[Account]:
        """The households' and organisations' accounts of a community (residents' personal
        records are not part of its reports)."""
        rows = await self._connection.execute(
            select(accounts)
            .where(
                accounts.c.community_id == community_id,
                accounts.c.opened_at <= opened_by,
                accounts.c.subject_kind != CreditSubjectKind.RESIDENT.value,
            )
            .order_by(accounts.c.subject_id)
        )
        return [_account(row) for row in rows]

    async def balances_at(
        self, subject_ids: Sequence[uuid.UUID], at: datetime
    ) -> dict[uuid.UUID, int]:
        if not subject_ids:
            return {}
        rows = await self._connection.execute(
            select(entries.c.subject_id, func.sum(entries.c.points))
            .where(entries.c.subject_id.in_(subject_ids), counting_at(at))
            .group_by(entries.c.subject_id)
        )
        return {row[0]: int(row[1] or 0) for row in rows}

    # --- entries (the ledger) --------------------------------------------------------------

    async def add_entry(self, entry: Entry) -> None:
        await self._connection.execute(
            _ADD_ENTRY,
            {
                "id": entry.id,
                "subject_id": entry.subject_id,
                "points": entry.points,
                "reason_code": entry.reason_code,
                "policy_version": entry.policy_version,
                "source_event_id": entry.source_event_id,
                "severity": entry.severity.value if entry.severity else None,
                "occurred_at": entry.occurred_at,
                "recorded_at": entry.recorded_at,
                "rule": entry.rule,
                "counts_until": entry.counts_until,
                "refers_to": entry.refers_to,
                "inspection_id": entry.inspection_id,
                "cause": dict(entry.cause),
            },
        )

    async def has_entry_for(self, source_event_id: str) -> bool:
        return await self.entry_for(source_event_id) is not None

    async def entry_for(self, source_event_id: str) -> Entry | None:
        row = (
            await self._connection.execute(_ENTRY_FOR, {"source": source_event_id})
        ).one_or_none()
        return None if row is None else _entry(row)

    async def entry(self, entry_id: uuid.UUID) -> Entry | None:
        row = (
            await self._connection.execute(select(entries).where(entries.c.id == entry_id))
        ).one_or_none()
        return None if row is None else _entry(row)

    async def penalty_for_inspection(
        self, subject_id: uuid.UUID, inspection_id: uuid.UUID
    ) -> Entry | None:
        row = (
            await self._connection.execute(
                select(entries).where(
                    entries.c.subject_id == subject_id,
                    entries.c.inspection_id == inspection_id,
                    entries.c.reason_code == "inspection.failed",
                )
            )
        ).first()
        return None if row is None else _entry(row)

    async def entries_page(self, subject_id: uuid.UUID, page: PageRequest) -> Slice[Entry]:
        """One page of the subject's entries, oldest first, and how many it has."""
        total = await self._connection.scalar(
            select(func.count()).select_from(entries).where(entries.c.subject_id == subject_id)
        )
        rows = await self._connection.execute(
            select(entries)
            .where(entries.c.subject_id == subject_id)
            .order_by(entries.c.recorded_at, entries.c.id)
            .limit(page.limit)
            .offset(page.offset)
        )
        return Slice([_entry(row) for row in rows], total or 0, page)

    async def entries_of(self, subject_id: uuid.UUID) -> list[Entry]:
        rows = await self._connection.execute(
            select(entries)
            .where(entries.c.subject_id == subject_id)
            .order_by(entries.c.recorded_at, entries.c.id)
        )
        return [_entry(row) for row in rows]

    async def entries_of_subjects(
        self, subject_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[Entry]]:
        """The entries of several subjects, each subject's oldest first."""
        rows = await self._connection.execute(
            select(entries)
            .where(entries.c.subject_id.in_(subject_ids))
            .order_by(entries.c.subject_id, entries.c.recorded_at, entries.c.id)
        )
        by_subject: dict[uuid.UUID, list[Entry]] = {}
        for row in rows:
            entry = _entry(row)
            by_subject.setdefault(entry.subject_id, []).append(entry)
        return by_subject

    async def balance_at(self, subject_id: uuid.UUID, at: datetime) -> int:
        total = await self._connection.scalar(
            select(func.sum(entries.c.points)).where(
                entries.c.subject_id == subject_id, counting_at(at)
            )
        )
        return int(total or 0)

    async def cap_totals(
        self, subject_id: uuid.UUID, policy: Policy, reason_code: str, occurred_at: datetime
    ) -> list[tuple[Cap, int]]:
        used = []
        for cap in policy.caps_for(reason_code):
            start, end = policy.period_bounds(cap.period, occurred_at)
            total = await self._connection.scalar(
                _CAP_TOTAL,
                {"subject": subject_id, "reasons": sorted(cap.reasons), "start": start, "end": end},
            )
            used.append((cap, int(total or 0)))
        return used

    # --- expiry ----------------------------------------------------------------------------

    async def subjects_with_expiries(self, now: datetime, limit: int) -> list[uuid.UUID]:
        query = (
            select(entries.c.subject_id)
            .outerjoin(expired_entries, expired_entries.c.entry_id == entries.c.id)
            .where(entries.c.counts_until <= now, expired_entries.c.entry_id.is_(None))
            .group_by(entries.c.subject_id)
            .order_by(entries.c.subject_id)
            .limit(limit)
        )
        return list((await self._connection.scalars(query)).all())

    async def unsettled_expiries(self, subject_id: uuid.UUID, now: datetime) -> list[Entry]:
        rows = await self._connection.execute(
            _UNSETTLED_EXPIRIES, {"subject": subject_id, "now": now}
        )
        return [_entry(row) for row in rows]

    async def mark_expired(self, entry: Entry, now: datetime) -> None:
        """The entry stopped counting at its `counts_until` (one that counts forever never does)."""
        if entry.counts_until is None:
            raise ValueError(f"entry {entry.id} counts without end; it cannot expire")
        await self._connection.execute(
            insert(expired_entries).values(
                entry_id=entry.id,
                subject_id=entry.subject_id,
                expired_at=entry.counts_until,
                settled_at=now,
            )
        )

    # --- appeals ---------------------------------------------------------------------------

    async def add_appeal(self, appeal: Appeal) -> None:
        await self._connection.execute(insert(appeals).values(**_appeal_values(appeal)))

    async def save_appeal(self, appeal: Appeal) -> None:
        values = _appeal_values(appeal)
        del values["id"]
        await self._connection.execute(
            update(appeals).where(appeals.c.id == appeal.id).values(**values)
        )

    async def appeal(self, appeal_id: uuid.UUID, *, for_update: bool = False) -> Appeal | None:
        query = select(appeals).where(appeals.c.id == appeal_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).one_or_none()
        return None if row is None else _appeal(row)

    async def appeals_of_entry(self, entry_id: uuid.UUID) -> list[Appeal]:
        rows = await self._connection.execute(
            select(appeals).where(appeals.c.entry_id == entry_id).order_by(appeals.c.filed_at)
        )
        return [_appeal(row) for row in rows]

    async def list_appeals(
        self,
        *,
        state: str | None,
        subject_id: uuid.UUID | None,
        due_by: date | None,
        page: PageRequest,
        grids: frozenset[str] | None = None,
        parties: frozenset[uuid.UUID] = frozenset(),
    ) -> Slice[Appeal]:
        """Appeals, oldest first, and how many match; with `grids`, only those about subjects
        in these grids or about one of `parties`."""
        query = select(appeals)
        if grids is not None:
            query = query.join(accounts, accounts.c.subject_id == appeals.c.subject_id).where(
                or_(
                    accounts.c.grid_id.in_(sorted(grids)),
                    appeals.c.subject_id.in_(sorted(parties)),
                )
            )
        if state is not None:
            query = query.where(appeals.c.state == state)
        if subject_id is not None:
            query = query.where(appeals.c.subject_id == subject_id)
        if due_by is not None:
            query = query.where(appeals.c.decide_by <= due_by)
        total = await self._connection.scalar(select(func.count()).select_from(query.subquery()))
        rows = await self._connection.execute(
            query.order_by(appeals.c.filed_at, appeals.c.id).limit(page.limit).offset(page.offset)
        )
        return Slice([_appeal(row) for row in rows], total or 0, page)

    # --- green-channel audit ---------------------------------------------------------------

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
        result = await self._connection.execute(
            insert(green_channel_checks)
            .values(
                subject_id=subject_id,
                checked_by=checked_by,
                checked_at=checked_at,
                granted=granted,
                grade=grade,
                valid_until=valid_until,
                reason=reason,
            )
            .returning(green_channel_checks.c.id)
        )
        return int(result.scalar_one())

    async def checks_of(self, subject_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
        rows = await self._connection.execute(
            select(green_channel_checks)
            .where(green_channel_checks.c.subject_id == subject_id)
            .order_by(green_channel_checks.c.id.desc())
            .limit(limit)
        )
        return [dict(row._mapping) for row in rows]


# The posting path's statements, built once with their values as parameters (an UPDATE's or
# INSERT's columns are the parameters'): building one anew per posting, and its cache key,
# took about as much CPU as the database round trip.
_SAVE_ACCOUNT = update(accounts).where(accounts.c.subject_id == bindparam("account"))
_ADD_ENTRY = insert(entries)
_ENTRY_FOR = select(entries).where(entries.c.source_event_id == bindparam("source"))
# The entry check rides on the lock: the inbox already deduplicates, so it is almost always
# false, and a statement of its own cost a round trip per event.
_ACCOUNT_FOR_EVENT = (
    select(
        accounts,
        exists().where(entries.c.source_event_id == bindparam("source")).label("posted"),
    )
    .where(accounts.c.subject_id == bindparam("subject"))
    .with_for_update(of=accounts)
)
_CAP_TOTAL = select(func.sum(entries.c.points)).where(
    entries.c.subject_id == bindparam("subject"),
    entries.c.reason_code.in_(bindparam("reasons", expanding=True)),
    entries.c.occurred_at >= bindparam("start"),
    entries.c.occurred_at < bindparam("end"),
)
_UNSETTLED_EXPIRIES = (
    select(entries)
    .outerjoin(expired_entries, expired_entries.c.entry_id == entries.c.id)
    .where(
        entries.c.subject_id == bindparam("subject"),
        entries.c.counts_until <= bindparam("now"),
        expired_entries.c.entry_id.is_(None),
    )
    .order_by(entries.c.counts_until, entries.c.id)
)


def _account_values(account: Account) -> dict[str, Any]:
    return {
        "subject_id": account.subject_id,
        "subject_kind": account.subject_kind.value,
        "score": account.score,
        "grade": account.grade,
        "opened_at": account.opened_at,
        "balance": account.balance,
        "policy_version": account.policy_version,
        "community_id": account.community_id,
        "consent": account.consent,
        "closed_at": account.closed_at,
        "green_channel": account.green_channel,
        "green_evaluated_at": account.green_evaluated_at,
        "green_valid_until": account.green_valid_until,
        "household_id": account.household_id,
        "members_version": account.members_version,
        "grid_id": account.grid_id,
    }


def _account(row: Row[Any]) -> Account:
    return account_of(row._mapping)


def account_of(m: Mapping[Any, Any]) -> Account:
    """An account from its row's columns (a SQLAlchemy row mapping or an asyncpg record)."""
    return Account(
        subject_id=m["subject_id"],
        subject_kind=CreditSubjectKind(m["subject_kind"]),
        score=m["score"],
        grade=m["grade"],
        opened_at=m["opened_at"],
        balance=m["balance"],
        policy_version=m["policy_version"],
        community_id=m["community_id"],
        consent=m["consent"],
        closed_at=m["closed_at"],
        green_channel=m["green_channel"],
        green_evaluated_at=m["green_evaluated_at"],
        green_valid_until=m["green_valid_until"],
        household_id=m["household_id"],
        members_version=m["members_version"],
        grid_id=m["grid_id"],
    )


def _entry(row: Row[Any]) -> Entry:
    return entry_of(row._mapping)


def entry_of(m: Mapping[Any, Any], prefix: str = "") -> Entry:
    """An entry from its row's columns (a SQLAlchemy row mapping or an asyncpg record), named
    with `prefix` where the row holds other columns too."""
    severity = m[prefix + "severity"]
    return Entry(
        id=m[prefix + "id"],
        subject_id=m[prefix + "subject_id"],
        points=m[prefix + "points"],
        reason_code=m[prefix + "reason_code"],
        policy_version=m[prefix + "policy_version"],
        source_event_id=m[prefix + "source_event_id"],
        severity=Severity(severity) if severity else None,
        occurred_at=m[prefix + "occurred_at"],
        recorded_at=m[prefix + "recorded_at"],
        rule=m[prefix + "rule"],
        counts_until=m[prefix + "counts_until"],
        refers_to=m[prefix + "refers_to"],
        inspection_id=m[prefix + "inspection_id"],
        cause=m[prefix + "cause"] or {},
    )


def _appeal_values(appeal: Appeal) -> dict[str, Any]:
    return {
        "id": appeal.id,
        "subject_id": appeal.subject_id,
        "entry_id": appeal.entry_id,
        "state": appeal.state,
        "filed_by": appeal.filed_by,
        "grounds": appeal.grounds,
        "filed_at": appeal.filed_at,
        "decide_by": appeal.decide_by,
        "decided_by": appeal.decided_by,
        "decided_at": appeal.decided_at,
        "decision_reason": appeal.decision_reason,
        "reversal_entry_id": appeal.reversal_entry_id,
    }


def _appeal(row: Row[Any]) -> Appeal:
    m = row._mapping
    return Appeal(**{key: m[key] for key in _APPEAL_FIELDS})


_APPEAL_FIELDS = (
    "id",
    "subject_id",
    "entry_id",
    "state",
    "filed_by",
    "grounds",
    "filed_at",
    "decide_by",
    "decided_by",
    "decided_at",
    "decision_reason",
    "reversal_entry_id",
)
