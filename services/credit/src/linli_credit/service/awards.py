"""Entries from staff and credit officers: volunteer hours, the five-good family award, and the
repair of a penalty on application."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_credit.adapters.repository import LedgerRepository
from linli_credit.domain.ledger import (
    VOLUNTEER,
    VOLUNTEER_RULE,
    Account,
    Entry,
    five_good_entry,
    repair_entry,
    volunteer_entry,
)
from linli_credit.service.scoring import Scoring
from linli_shared.contracts.credit import CommendationAwarded, CreditSubjectKind, EntryRepaired
from linli_shared.db import Database
from linli_shared.errors import Conflict, NotFound
from linli_shared.reach import EVERYWHERE, Reach
from linli_shared.rules import RuleViolation


@dataclass(frozen=True)
class AwardUseCases:
    _database: Database
    _scoring: Scoring

    async def record_volunteer_hours(
        self,
        subject_id: uuid.UUID,
        *,
        hours: int,
        served_on: date,
        activity: str,
        resident: str | None,
        idempotency_key: str,
        recorded_by: str,
        resident_id: uuid.UUID | None = None,
        reach: Reach = EVERYWHERE,
    ) -> tuple[Entry, bool]:
        """The entry for the hours, and whether it is new (False: the key was used before).

        `subject_id` is a household (naming the member who served with `resident_id`) or a
        resident. Where the policy makes volunteer hours personal, the entry is on the
        resident's account (and, if the policy says so, the household gets one of its own);
        otherwise on the household's, naming the resident."""
        source = f"volunteer:{subject_id}:{idempotency_key}"
        async with self._database.transaction() as connection:
            ledger = LedgerRepository(connection)
            account = await self._scoring.existing(connection, subject_id, reach)
            existing = await ledger.entry_for(source)
            if existing is not None:
                return existing, False
            policy = self._scoring.policy_now()
            member = await self._volunteer(connection, account, resident_id)
            details = {"recorded_by": recorded_by}
            if member is not None:
                details["resident_id"] = str(member.subject_id)
            hours_of = _Hours(hours, served_on, activity, resident)
            if not policy.is_personal(VOLUNTEER_RULE):
                if member is not None:
                    account = await self._household_of(connection, member)
                entry = await self._volunteer_entry(connection, account, hours_of, source, details)
                return entry, True
            if member is None:
                raise RuleViolation(
                    "resident_id",
                    f"policy {policy.version} makes volunteer hours personal: name the resident "
                    "who served (a member of the household), or record them on the resident",
                )
            entry = await self._volunteer_entry(connection, member, hours_of, source, details)
            if policy.personal_counts_toward_household:
                household = await self._household_of(connection, member)
                await self._volunteer_entry(
                    connection,
                    household,
                    hours_of,
                    f"{source}:household",
                    {**details, "personal_entry_id": str(entry.id)},
                )
            return entry, True

    async def award_five_good(
        self,
        subject_id: uuid.UUID,
        *,
        year: int,
        criteria: Mapping[str, bool],
        awarded_by: str,
        reach: Reach = EVERYWHERE,
    ) -> Entry:
        source = f"five-good:{subject_id}:{year}"
        async with self._database.transaction() as connection:
            ledger = LedgerRepository(connection)
            account = await self._scoring.existing(connection, subject_id, reach)
            if account.subject_kind is not CreditSubjectKind.HOUSEHOLD:
                raise Conflict("the five-good family award is for households")
            if await ledger.has_entry_for(source):
                raise Conflict(f"subject {subject_id} already has its five-good award for {year}")
            self._scoring.refuse_api(account)
            entry = five_good_entry(
                subject_id,
                year=year,
                criteria=criteria,
                records=await ledger.entries_of(subject_id),
                source_event_id=source,
                policy=self._scoring.policy_now(),
                now=self._scoring.clock.now(),
            )
            entry = replace(entry, cause={**entry.cause, "awarded_by": awarded_by})
            await self._scoring.post(connection, account, entry)
            await self._scoring.outbox.add(
                connection,
                CommendationAwarded(
                    subject_id=subject_id,
                    subject_kind=account.subject_kind,
                    award="five_good_family",
                    year=year,
                    entry_id=entry.id,
                    points=entry.points,
                ),
            )
            return entry

    async def repair(
        self, entry_id: uuid.UUID, *, note: str, repaired_by: str, reach: Reach = EVERYWHERE
    ) -> Entry:
        """Repair a penalty on application, once it is past its tier's minimum period."""
        async with self._database.transaction() as connection:
            ledger = LedgerRepository(connection)
            target = await ledger.entry(entry_id)
            if target is None:
                raise NotFound("ledger entry", entry_id)
            account = await self._scoring.existing(connection, target.subject_id)
            if not reach.covers(account.grid_id):
                raise NotFound("ledger entry", entry_id)
            now = self._scoring.clock.now()
            entry = repair_entry(
                target,
                await ledger.entries_of(target.subject_id),
                made_under=self._scoring.policies.version(target.policy_version),
                policy=self._scoring.policies.at(now),
                now=now,
                note=note,
            )
            entry = replace(entry, cause={**entry.cause, "repaired_by": repaired_by})
            await self._scoring.post(connection, account, entry)
            await self._scoring.outbox.add(
                connection,
                EntryRepaired(
                    subject_id=account.subject_id,
                    subject_kind=account.subject_kind,
                    entry_id=target.id,
                    how="applied",
                    repaired_at=now,
                ),
            )
            return entry

    # --- internals -----------------------------------------------------------------------------

    async def _volunteer(
        self, connection: AsyncConnection, account: Account, resident_id: uuid.UUID | None
    ) -> Account | None:
        """The resident who served: the subject itself, or the named member of the household."""
        if account.subject_kind is CreditSubjectKind.RESIDENT:
            if resident_id is not None and resident_id != account.subject_id:
                raise RuleViolation("resident_id", "names another resident than the subject")
            self._scoring.refuse_api(account)
            return account
        if resident_id is None:
            return None
        if account.subject_kind is not CreditSubjectKind.HOUSEHOLD:
            raise RuleViolation("resident_id", "only a household has resident members")
        member = await LedgerRepository(connection).account(resident_id, for_update=True)
        if member is None or member.household_id != account.subject_id or member.closed_at:
            raise RuleViolation(
                "resident_id",
                f"resident {resident_id} is not a member of household {account.subject_id}",
            )
        return member

    async def _household_of(self, connection: AsyncConnection, resident: Account) -> Account:
        """The account of the resident's household (a resident account always names it)."""
        if resident.household_id is None:
            raise Conflict(f"resident {resident.subject_id} belongs to no household")
        return await self._scoring.existing(connection, resident.household_id)

    async def _volunteer_entry(
        self,
        connection: AsyncConnection,
        account: Account,
        hours: _Hours,
        source: str,
        details: Mapping[str, str],
    ) -> Entry:
        self._scoring.refuse_api(account)
        ledger = LedgerRepository(connection)
        now = self._scoring.clock.now()
        policy = self._scoring.policies.at(now)
        entry = volunteer_entry(
            account.subject_id,
            hours=hours.hours,
            served_on=hours.served_on,
            activity=hours.activity,
            resident=hours.resident,
            source_event_id=source,
            policy=policy,
            now=now,
            cap_totals=await ledger.cap_totals(
                account.subject_id, policy, VOLUNTEER, policy.start_of(hours.served_on)
            ),
        )
        entry = replace(entry, cause={**entry.cause, **details})
        await self._scoring.post(connection, account, entry)
        return entry


@dataclass(frozen=True)
class _Hours:
    """What was served: the hours, the day, the activity and who served (as recorded)."""

    hours: int
    served_on: date
    activity: str
    resident: str | None
