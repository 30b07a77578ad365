"""Credit use cases; handlers call them inside the consumer's transaction (with the inbox).

Every change to the ledger or its projection happens with the subject's account row locked
(`FOR UPDATE`), in one transaction with the events it announces (outbox). Reads of score, grade
and green channel are one primary-key query on the projection.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_credit.adapters.reads import AccountReads
from linli_credit.adapters.repository import LedgerRepository
from linli_credit.domain.appeals import Appeal, AppealConflict, Outcome, file_appeal
from linli_credit.domain.ledger import (
    VOLUNTEER,
    VOLUNTEER_RULE,
    Account,
    Entry,
    Evaluation,
    appeal_reversals,
    evaluate,
    failed_inspection_entry,
    five_good_entry,
    net_of,
    rectification_entry,
    repair_entry,
    volunteer_entry,
)
from linli_credit.domain.policy import Consent, Policy, PolicyBook
from linli_shared.aio import sleep_or_stop
from linli_shared.clock import Clock
from linli_shared.context import event_context
from linli_shared.contracts.credit import (
    AccountClosed,
    AccountOpened,
    AppealDecided,
    AppealReceived,
    CommendationAwarded,
    CreditSubjectKind,
    EntryRepaired,
    GradeChanged,
    GreenChannelGranted,
    GreenChannelLost,
    ScoreChanged,
)
from linli_shared.contracts.inspections import (
    InspectionFailed,
    RectificationOverdue,
    RectificationVerified,
)
from linli_shared.contracts.partner_credit import (
    PartnerGradeChanged,
    PartnerGreenChannelGranted,
    PartnerGreenChannelRevoked,
)
from linli_shared.contracts.registry import (
    ConsentV1,
    HouseholdConsentChanged,
    HouseholdDeregistered,
    HouseholdMembersChanged,
    HouseholdMoved,
    HouseholdRegistered,
    MemberV1,
    OrganisationChanged,
    OrganisationRegistered,
)
from linli_shared.db import Database
from linli_shared.errors import Conflict, NotFound
from linli_shared.messaging.outbox import Outbox
from linli_shared.messaging.processing import UnknownSubject
from linli_shared.reach import EVERYWHERE, OutsideGrids, Reach
from linli_shared.rules import RuleViolation

log = logging.getLogger(__name__)

BATCH = 200


@dataclass(frozen=True)
class GreenChannelAnswer:
    subject_id: uuid.UUID
    granted: bool
    grade: str
    evaluated_at: datetime | None
    valid_until: date | None
    reason: str
    check_id: int


@dataclass(frozen=True)
class Explanation:
    account: Account
    evaluation: Evaluation
    entries: list[Entry]
    scoring_refusal: str | None


@dataclass(frozen=True)
class GradeReport:
    community_id: str
    quarter: str
    at: datetime
    policy_version: str
    distribution: dict[str, int]
    red_list: list[tuple[uuid.UUID, int, str]]
    black_list: list[tuple[uuid.UUID, int, str]]


@dataclass(frozen=True)
class RebuildReport:
    accounts: int
    changed: list[uuid.UUID]


def _consent(consent: ConsentV1 | None) -> Consent:
    if consent is None:
        return "unrecorded"
    return "granted" if consent.integrity_scoring else "declined"


class CreditService:
    def __init__(
        self, database: Database, outbox: Outbox, clock: Clock, policy: Policy | PolicyBook
    ) -> None:
        self._database = database
        self._reads = AccountReads(database)
        self._outbox = outbox
        self._clock = clock
        self._policies = policy if isinstance(policy, PolicyBook) else PolicyBook((policy,))

    @property
    def policies(self) -> PolicyBook:
        return self._policies

    def policy_now(self) -> Policy:
        return self._policies.at(self._clock.now())

    def today(self) -> date:
        """The local date now, in the policy's time zone."""
        return self.policy_now().local_date(self._clock.now())

    # --- accounts from the registry ----------------------------------------------------------

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
        places a new account; only the registry's events move an existing one (`_place`)."""
        ledger = LedgerRepository(connection)
        account = await ledger.account(subject_id, for_update=True)
        if account is None:
            account = Account.open(
                subject_id,
                subject_kind,
                self.policy_now(),
                self._clock.now(),
                community_id=community_id,
                consent=consent or "unrecorded",
                household_id=household_id,
                grid_id=grid_id,
            )
            await ledger.add_account(account)
            if not announce:
                return account
            await self._outbox.add(
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
        updated = replace(
            account,
            community_id=community_id or account.community_id,
            consent=consent or account.consent,
        )
        if updated != account:
            updated = await self._guard_green_channel(connection, updated)
            await ledger.save_account(updated)
        return updated

    async def household_registered(
        self, connection: AsyncConnection, event: HouseholdRegistered
    ) -> Account:
        household = await self.open_account(
            connection,
            event.household_id,
            CreditSubjectKind.HOUSEHOLD,
            community_id=event.community_id,
            consent=_consent(event.consent),
            grid_id=event.grid_id,
            announce=True,
        )
        household = await self._place(connection, household, event.community_id, event.grid_id)
        return await self._sync_members(connection, household, event.members, event.version)

    async def household_moved(self, connection: AsyncConnection, event: HouseholdMoved) -> Account:
        """The household, and its residents with it, are now in the event's community and grid."""
        household = await self.open_account(
            connection, event.household_id, CreditSubjectKind.HOUSEHOLD
        )
        return await self._place(connection, household, event.community_id, event.grid_id)

    async def _place(
        self,
        connection: AsyncConnection,
        account: Account,
        community_id: str,
        grid_id: str | None,
    ) -> Account:
        """Where the registry now places the subject; a household's residents go with it."""
        ledger = LedgerRepository(connection)
        placed = replace(account, community_id=community_id, grid_id=grid_id)
        if placed != account:
            await ledger.save_account(placed)
        for resident in await ledger.residents_of(account.subject_id, for_update=True):
            moved = replace(resident, community_id=community_id, grid_id=grid_id)
            if moved != resident:
                await ledger.save_account(moved)
        return placed

    async def members_changed(
        self, connection: AsyncConnection, event: HouseholdMembersChanged
    ) -> Account:
        """New members' resident accounts open, removed members' close."""
        household = await self.open_account(
            connection, event.household_id, CreditSubjectKind.HOUSEHOLD
        )
        return await self._sync_members(connection, household, event.members, event.version)

    async def _sync_members(
        self,
        connection: AsyncConnection,
        household: Account,
        members: list[MemberV1],
        version: int,
    ) -> Account:
        """Resident accounts follow the household's members (those with a resident id); an
        older member list than one applied already, or a closed household, changes nothing."""
        if household.closed_at is not None or version <= household.members_version:
            return household
        ledger = LedgerRepository(connection)
        wanted = {m.resident_id for m in members if m.resident_id is not None}
        current = await ledger.residents_of(household.subject_id, for_update=True)
        for resident in current:
            if resident.subject_id not in wanted:
                await self._close(connection, resident, "left_household")
        for resident_id in sorted(wanted - {r.subject_id for r in current}):
            await self._join(connection, resident_id, household)
        household = replace(household, members_version=version)
        await ledger.save_account(household)
        return household

    async def _join(
        self, connection: AsyncConnection, resident_id: uuid.UUID, household: Account
    ) -> Account:
        """The resident's account in this household: opened, or moved here (reopened if closed)."""
        ledger = LedgerRepository(connection)
        existing = await ledger.account(resident_id, for_update=True)
        if existing is None:
            return await self.open_account(
                connection,
                resident_id,
                CreditSubjectKind.RESIDENT,
                community_id=household.community_id,
                consent=household.consent,
                household_id=household.subject_id,
                grid_id=household.grid_id,
                announce=True,
            )
        moved = replace(
            existing,
            household_id=household.subject_id,
            community_id=household.community_id,
            grid_id=household.grid_id,
            consent=household.consent,
            closed_at=None,
        )
        moved = await self._guard_green_channel(connection, moved)
        await ledger.save_account(moved)
        await self._outbox.add(
            connection,
            AccountOpened(
                subject_id=resident_id,
                subject_kind=CreditSubjectKind.RESIDENT,
                opened_at=self._clock.now(),
                community_id=household.community_id,
                household_id=household.subject_id,
                reopened=True,
            ),
        )
        return moved

    async def _close(
        self,
        connection: AsyncConnection,
        account: Account,
        reason: Literal["deregistered", "left_household"],
        at: datetime | None = None,
    ) -> Account:
        """Close an account: its ledger stays, new causes make no entries, no green channel."""
        if account.closed_at is not None:
            return account
        closed_at = at or self._clock.now()
        closed = await self._guard_green_channel(connection, replace(account, closed_at=closed_at))
        await LedgerRepository(connection).save_account(closed)
        await self._outbox.add(
            connection,
            AccountClosed(
                subject_id=account.subject_id,
                subject_kind=account.subject_kind,
                closed_at=closed_at,
                reason=reason,
                household_id=account.household_id,
            ),
        )
        return closed

    async def organisation_registered(
        self, connection: AsyncConnection, event: OrganisationRegistered | OrganisationChanged
    ) -> Account:
        """The organisation's account, opened (announced) if new, placed where the registry
        says it is now."""
        organisation = await self.open_account(
            connection,
            event.organisation_id,
            CreditSubjectKind.ORGANISATION,
            community_id=event.community_id,
            grid_id=event.grid_id,
            announce=True,
        )
        return await self._place(connection, organisation, event.community_id, event.grid_id)

    async def consent_changed(
        self, connection: AsyncConnection, event: HouseholdConsentChanged
    ) -> Account:
        """The household's consent, and so its residents': they are scored under it."""
        consent = _consent(event.consent)
        household = await self.open_account(
            connection, event.household_id, CreditSubjectKind.HOUSEHOLD, consent=consent
        )
        ledger = LedgerRepository(connection)
        for resident in await ledger.residents_of(event.household_id, for_update=True):
            if resident.consent != consent:
                changed = await self._guard_green_channel(
                    connection, replace(resident, consent=consent)
                )
                await ledger.save_account(changed)
        return household

    async def deregistered(
        self, connection: AsyncConnection, event: HouseholdDeregistered
    ) -> Account:
        """The household's account and its residents' close; their ledgers stay."""
        account = await self.open_account(
            connection, event.household_id, CreditSubjectKind.HOUSEHOLD
        )
        ledger = LedgerRepository(connection)
        for resident in await ledger.residents_of(event.household_id, for_update=True):
            await self._close(connection, resident, "deregistered", event.deregistered_at)
        return await self._close(connection, account, "deregistered", event.deregistered_at)

    # --- entries from inspections --------------------------------------------------------------

    async def record_failed_inspection(
        self, connection: AsyncConnection, event: InspectionFailed, source_event_id: str
    ) -> Entry | None:
        """One entry per failed inspection; None when already made or the subject is not scored."""
        ledger = LedgerRepository(connection)
        if await ledger.has_entry_for(source_event_id):
            return None
        account = await self._announced_account(connection, event)
        if self._refused(account, source_event_id):
            return None
        now = self._clock.now()
        policy = self._policies.at(event.inspected_at)
        entry = failed_inspection_entry(
            account,
            severity=event.severity,
            source_event_id=source_event_id,
            occurred_at=event.inspected_at,
            policy=policy,
            now=now,
            inspection_id=event.inspection_id,
            cause={
                "inspection_id": str(event.inspection_id),
                "checklist": event.checklist,
                "target_kind": event.target_kind,
                "target_id": event.target_id,
                "failed_findings": [f.model_dump(mode="json") for f in event.failed_findings],
                "comply_by": event.comply_by.isoformat(),
            },
            cap_totals=await ledger.cap_totals(
                account.subject_id, policy, "inspection.failed", event.inspected_at
            ),
        )
        await self._post(connection, account, entry)
        return entry

    async def _announced_account(
        self,
        connection: AsyncConnection,
        event: InspectionFailed | RectificationVerified | RectificationOverdue,
    ) -> Account:
        """The account of the event's subject, which the registry must have announced: credit
        opens no account for a subject the registry never had (`UnknownSubject`: the consumer
        waits a bounded time for the registration, then dead-letters the event)."""
        if await LedgerRepository(connection).account(event.subject_id) is None:
            raise UnknownSubject(event.subject_id, event.subject_kind.value)
        return await self.open_account(
            connection,
            event.subject_id,
            CreditSubjectKind(event.subject_kind.value),
            community_id=event.community_id,
        )

    async def record_rectification(
        self,
        connection: AsyncConnection,
        event: RectificationVerified | RectificationOverdue,
        source_event_id: str,
    ) -> Entry | None:
        """On time: part of the penalty back; late or overdue: a further penalty, once."""
        ledger = LedgerRepository(connection)
        if await ledger.has_entry_for(source_event_id):
            return None
        account = await self._announced_account(connection, event)
        if self._refused(account, source_event_id):
            return None
        original = await ledger.penalty_for_inspection(account.subject_id, event.inspection_id)
        if original is None:
            log.info("no penalty for inspection %s; nothing to settle", event.inspection_id)
            return None
        if isinstance(event, RectificationVerified):
            on_time, occurred_at, what = event.on_time, event.verified_at, "verified"
        else:
            on_time, occurred_at, what = False, event.overdue_since, "overdue"
        policy = self._policies.at(occurred_at)
        entry = rectification_entry(
            original,
            await ledger.entries_of(account.subject_id),
            on_time=on_time,
            source_event_id=source_event_id,
            occurred_at=occurred_at,
            policy=policy,
            now=self._clock.now(),
            cause={
                "rectification_id": str(event.rectification_id),
                "inspection_id": str(event.inspection_id),
                "outcome": what,
                "on_time": on_time,
                "comply_by": event.comply_by.isoformat(),
            },
            cap_totals=await ledger.cap_totals(
                account.subject_id, policy, "rectification.late", occurred_at
            ),
        )
        if entry is None:
            return None
        await self._post(connection, account, entry)
        return entry

    # --- entries from staff and credit officers ----------------------------------------------

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
            account = await self._existing(connection, subject_id, reach)
            existing = await ledger.entry_for(source)
            if existing is not None:
                return existing, False
            now = self._clock.now()
            policy = self._policies.at(now)
            member = await self._volunteer(connection, account, resident_id)
            details = {"recorded_by": recorded_by}
            if member is not None:
                details["resident_id"] = str(member.subject_id)
            if not policy.is_personal(VOLUNTEER_RULE):
                if member is not None:
                    assert member.household_id is not None
                    account = await self._existing(connection, member.household_id)
                entry = await self._volunteer_entry(
                    connection, account, hours, served_on, activity, resident, source, details
                )
                return entry, True
            if member is None:
                raise RuleViolation(
                    "resident_id",
                    f"policy {policy.version} makes volunteer hours personal: name the resident "
                    "who served (a member of the household), or record them on the resident",
                )
            entry = await self._volunteer_entry(
                connection, member, hours, served_on, activity, resident, source, details
            )
            if policy.personal_counts_toward_household:
                assert member.household_id is not None
                household = await self._existing(connection, member.household_id)
                await self._volunteer_entry(
                    connection,
                    household,
                    hours,
                    served_on,
                    activity,
                    resident,
                    f"{source}:household",
                    {**details, "personal_entry_id": str(entry.id)},
                )
            return entry, True

    async def _volunteer(
        self, connection: AsyncConnection, account: Account, resident_id: uuid.UUID | None
    ) -> Account | None:
        """The resident who served: the subject itself, or the named member of the household."""
        if account.subject_kind is CreditSubjectKind.RESIDENT:
            if resident_id is not None and resident_id != account.subject_id:
                raise RuleViolation("resident_id", "names another resident than the subject")
            self._refuse_api(account)
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

    async def _volunteer_entry(
        self,
        connection: AsyncConnection,
        account: Account,
        hours: int,
        served_on: date,
        activity: str,
        resident: str | None,
        source: str,
        details: Mapping[str, str],
    ) -> Entry:
        self._refuse_api(account)
        ledger = LedgerRepository(connection)
        now = self._clock.now()
        policy = self._policies.at(now)
        entry = volunteer_entry(
            account.subject_id,
            hours=hours,
            served_on=served_on,
            activity=activity,
            resident=resident,
            source_event_id=source,
            policy=policy,
            now=now,
            cap_totals=await ledger.cap_totals(
                account.subject_id, policy, VOLUNTEER, policy.start_of(served_on)
            ),
        )
        entry = replace(entry, cause={**entry.cause, **details})
        await self._post(connection, account, entry)
        return entry

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
            account = await self._existing(connection, subject_id, reach)
            if account.subject_kind is not CreditSubjectKind.HOUSEHOLD:
                raise Conflict("the five-good family award is for households")
            if await ledger.has_entry_for(source):
                raise Conflict(f"subject {subject_id} already has its five-good award for {year}")
            self._refuse_api(account)
            entry = five_good_entry(
                subject_id,
                year=year,
                criteria=criteria,
                records=await ledger.entries_of(subject_id),
                source_event_id=source,
                policy=self.policy_now(),
                now=self._clock.now(),
            )
            entry = replace(entry, cause={**entry.cause, "awarded_by": awarded_by})
            await self._post(connection, account, entry)
            await self._outbox.add(
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
            account = await self._existing(connection, target.subject_id)
            if not reach.covers(account.grid_id):
                raise NotFound("ledger entry", entry_id)
            now = self._clock.now()
            entry = repair_entry(
                target,
                await ledger.entries_of(target.subject_id),
                made_under=self._policies.version(target.policy_version),
                policy=self._policies.at(now),
                now=now,
                note=note,
            )
            entry = replace(entry, cause={**entry.cause, "repaired_by": repaired_by})
            await self._post(connection, account, entry)
            await self._outbox.add(
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

    # --- appeals -------------------------------------------------------------------------------

    async def file_appeal(
        self, entry_id: uuid.UUID, *, grounds: str, filed_by: str, reach: Reach = EVERYWHERE
    ) -> Appeal:
        """An appeal against the entry; one about a subject outside the caller's grids is
        refused (403 naming `entry_id`)."""
        async with self._database.transaction() as connection:
            ledger = LedgerRepository(connection)
            entry = await ledger.entry(entry_id)
            if entry is None:
                raise NotFound("ledger entry", entry_id)
            account = await self._existing(connection, entry.subject_id)
            if not reach.covers(account.grid_id):
                raise OutsideGrids("entry_id", account.grid_id)
            try:
                appeal = file_appeal(
                    entry,
                    await ledger.entries_of(entry.subject_id),
                    await ledger.appeals_of_entry(entry_id),
                    grounds=grounds,
                    filed_by=filed_by,
                    policy=self.policy_now(),
                    now=self._clock.now(),
                )
            except AppealConflict as error:
                raise Conflict(str(error)) from error
            await ledger.add_appeal(appeal)
            await self._outbox.add(
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
            appeal = await ledger.appeal(appeal_id)
            if appeal is None:
                raise NotFound("appeal", appeal_id)
            account = await self._existing(connection, appeal.subject_id)
            if not reach.covers(account.grid_id):
                raise NotFound("appeal", appeal_id)
            appeal = await ledger.appeal(appeal_id, for_update=True)
            assert appeal is not None
            now = self._clock.now()
            reversal_id = None
            try:
                decided = appeal.decide(outcome, reason=reason, decided_by=decided_by, now=now)
            except AppealConflict as error:
                raise Conflict(str(error)) from error
            if outcome == "upheld":
                target = await ledger.entry(appeal.entry_id)
                assert target is not None
                reversals = appeal_reversals(
                    target,
                    await ledger.entries_of(appeal.subject_id),
                    appeal_id=appeal.id,
                    policy=self._policies.at(now),
                    now=now,
                )
                for reversal in reversals:
                    account = await self._post(connection, account, reversal)
                reversal_id = next((r.id for r in reversals if r.refers_to == target.id), None)
                decided = replace(decided, reversal_entry_id=reversal_id)
            await ledger.save_appeal(decided)
            await self._outbox.add(
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
        if appeal is None or account is None or not reach.covers(account.grid_id):
            raise NotFound("appeal", appeal_id)
        return appeal

    async def appeals(
        self,
        *,
        state: str | None = None,
        subject_id: uuid.UUID | None = None,
        overdue: bool = False,
        limit: int = 50,
        offset: int = 0,
        reach: Reach = EVERYWHERE,
    ) -> list[Appeal]:
        due_by = None
        if overdue:
            state = "received"
            due_by = self.policy_now().local_date(self._clock.now()) - timedelta(days=1)
        async with self._database.connect() as connection:
            return await LedgerRepository(connection).list_appeals(
                state=state,
                subject_id=subject_id,
                due_by=due_by,
                limit=limit,
                offset=offset,
                grids=reach.grids,
            )

    # --- the green channel -----------------------------------------------------------------

    async def check_green_channel(
        self, subject_id: uuid.UUID, *, checked_by: str, reach: Reach = EVERYWHERE
    ) -> GreenChannelAnswer:
        """The service hall's question, answered from the projection and audited (the check is
        recorded before the answer is given; it needs no lock, so it is one statement)."""
        now = self._clock.now()
        today = self.policy_now().local_date(now)
        account = await self.account(subject_id, reach)
        granted = account.holds_green_channel(today)
        if granted:
            reason = f"grade {account.grade} earns the green channel"
        elif account.green_channel:
            reason = f"the grant lapsed on {account.green_valid_until}: not re-evaluated"
        elif account.green_evaluated_at is None:
            reason = "not evaluated yet: the scheduled evaluation grants it by grade"
        else:
            refusal = account.refusal(self.policy_now())
            reason = refusal or f"grade {account.grade} does not earn the green channel"
        check_id = await self._reads.add_check(
            subject_id=subject_id,
            checked_by=checked_by,
            checked_at=now,
            granted=granted,
            grade=account.grade,
            valid_until=account.green_valid_until if granted else None,
            reason=reason,
        )
        return GreenChannelAnswer(
            subject_id=subject_id,
            granted=granted,
            grade=account.grade,
            evaluated_at=account.green_evaluated_at,
            valid_until=account.green_valid_until if granted else None,
            reason=reason,
            check_id=check_id,
        )

    # --- scheduled work ------------------------------------------------------------------------

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
            now = self._clock.now()
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
                        await ledger.save_account(await self._settle(connection, account))
            if progress == 0:
                return settled
            settled += progress

    async def evaluate_due(self) -> int:
        """Re-evaluate accounts not evaluated within the policy's interval: grade, green channel."""
        evaluated = 0
        while True:
            now = self._clock.now()
            policy = self._policies.at(now)
            cutoff = now - timedelta(days=policy.green_channel_evaluate_every_days)
            async with self._database.connect() as connection:
                subjects = await LedgerRepository(connection).due_for_evaluation(cutoff, BATCH)
            if not subjects:
                return evaluated
            for subject_id in subjects:
                with event_context(f"credit-evaluation-{uuid.uuid4()}"):
                    async with self._database.transaction() as connection:
                        await self.evaluate(connection, subject_id)
                evaluated += 1

    async def evaluate(self, connection: AsyncConnection, subject_id: uuid.UUID) -> Account:
        """Grade evaluation of one subject now: the current policy, the green channel granted
        or withdrawn by grade, valid for the policy's period."""
        ledger = LedgerRepository(connection)
        account = await ledger.account(subject_id, for_update=True)
        if account is None:
            raise NotFound("credit account", subject_id)
        account = await self._settle(connection, account)
        now = self._clock.now()
        policy = self._policies.at(now)
        eligible = account.refusal(policy) is None and policy.green_channel_for(account.grade)
        if eligible:
            valid_until = policy.local_date(now) + timedelta(days=policy.green_channel_valid_days)
            if not account.holds_green_channel(policy.local_date(now)):
                await self._outbox.add(
                    connection,
                    GreenChannelGranted(
                        subject_id=account.subject_id,
                        subject_kind=account.subject_kind,
                        grade=account.grade,
                        valid_until=valid_until,
                    ),
                )
                await self._outbox.add(
                    connection,
                    PartnerGreenChannelGranted(
                        subject_id=account.subject_id,
                        subject_kind=account.subject_kind,
                        community_id=account.community_id,
                        grade=account.grade,
                        effective_from=policy.local_date(now),
                        valid_until=valid_until,
                    ),
                )
            account = replace(
                account, green_channel=True, green_evaluated_at=now, green_valid_until=valid_until
            )
        else:
            account = await self._guard_green_channel(connection, account)
            account = replace(account, green_evaluated_at=now)
        await ledger.save_account(account)
        return account

    # --- rebuild -------------------------------------------------------------------------------

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
                now = self._clock.now()
                policy = self._policies.at(now)
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

    # --- reads -------------------------------------------------------------------------------

    async def account(self, subject_id: uuid.UUID, reach: Reach = EVERYWHERE) -> Account:
        """The subject's account; outside the caller's grids it is not found (its existence
        is not revealed)."""
        account = await self._reads.account(subject_id)
        if account is None or not reach.covers(account.grid_id):
            raise NotFound("credit account", subject_id)
        return account

    def scoring_refusal(self, account: Account) -> str | None:
        return account.refusal(self.policy_now())

    async def entries(self, subject_id: uuid.UUID, reach: Reach = EVERYWHERE) -> list[Entry]:
        async with self._database.connect() as connection:
            ledger = LedgerRepository(connection)
            account = await ledger.account(subject_id)
            if account is None or not reach.covers(account.grid_id):
                raise NotFound("credit account", subject_id)
            return await ledger.entries_of(subject_id)

    async def explain(
        self,
        subject_id: uuid.UUID,
        at: datetime | None = None,
        known_at: datetime | None = None,
        reach: Reach = EVERYWHERE,
    ) -> Explanation:
        """Why the subject is at its score and grade (now, or at a past instant)."""
        now = self._clock.now()
        at = at or now
        # Two statements, each its own snapshot, as on one READ COMMITTED connection before.
        account = await self._reads.account(subject_id)
        if account is None or not reach.covers(account.grid_id):
            raise NotFound("credit account", subject_id)
        entries = await self._reads.entries(subject_id)
        policy = self._policies.at(at)
        return Explanation(
            account=account,
            evaluation=evaluate(entries, policy, at, known_at),
            entries=entries,
            scoring_refusal=account.refusal(policy),
        )

    async def grade_report(self, community_id: str, year: int, quarter: int) -> GradeReport:
        """A community's grade distribution and red/black lists at the end of a quarter (or now,
        for the running quarter). A quarter that has not begun has no figures yet; a community
        this ledger has no account in is unknown here."""
        policy = self.policy_now()
        first = date(year, 3 * (quarter - 1) + 1, 1)
        end = policy.start_of(_add_quarter(first))
        now = self._clock.now()
        if policy.start_of(first) > now:
            raise RuleViolation("quarter", f"{year}-Q{quarter} has not begun")
        at = min(end - timedelta(microseconds=1), now)
        policy = self._policies.at(at)
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

    # --- the one path that changes a score ---------------------------------------------------

    def _refused(self, account: Account, source_event_id: str) -> bool:
        refusal = account.refusal(self.policy_now())
        if refusal is not None:
            log.info("no entry for %s from %s: %s", account.subject_id, source_event_id, refusal)
        return refusal is not None

    def _refuse_api(self, account: Account) -> None:
        refusal = account.refusal(self.policy_now())
        if refusal is not None:
            raise Conflict(f"subject {account.subject_id} is not scored: {refusal}")

    async def _existing(
        self, connection: AsyncConnection, subject_id: uuid.UUID, reach: Reach = EVERYWHERE
    ) -> Account:
        account = await LedgerRepository(connection).account(subject_id, for_update=True)
        if account is None or not reach.covers(account.grid_id):
            raise NotFound("credit account", subject_id)
        return account

    async def _settle(self, connection: AsyncConnection, account: Account) -> Account:
        """Bring the projection to now: entries whose period ended stop counting (announced)."""
        ledger = LedgerRepository(connection)
        now = self._clock.now()
        due = await ledger.unsettled_expiries(account.subject_id, now)
        related = await ledger.entries_of(account.subject_id) if due else []
        for entry in due:
            await ledger.mark_expired(entry, now)
            if entry.is_penalty and net_of(entry, related) < 0:
                assert entry.counts_until is not None
                await self._outbox.add(
                    connection,
                    EntryRepaired(
                        subject_id=account.subject_id,
                        subject_kind=account.subject_kind,
                        entry_id=entry.id,
                        how="expired",
                        repaired_at=entry.counts_until,
                    ),
                )
        policy = self._policies.at(now)
        balance = await ledger.balance_at(account.subject_id, now) if due else account.balance
        settled = account.rescore(balance, policy)
        return await self._announce_grade(connection, account, settled)

    async def _post(self, connection: AsyncConnection, account: Account, entry: Entry) -> Account:
        """Append the entry, move the projection, announce the change (and what follows)."""
        ledger = LedgerRepository(connection)
        now = self._clock.now()
        account = await self._settle(connection, account)
        await ledger.add_entry(entry)
        if entry.counts_until is not None and entry.counts_until <= now:
            await ledger.mark_expired(entry, now)  # it never counts; nothing to settle later
        updated = account.post(entry, self._policies.at(now), now)
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
                source_event_id=entry.source_event_id,
                occurred_at=entry.occurred_at,
            ),
        )
        updated = await self._announce_grade(connection, account, updated)
        await ledger.save_account(updated)
        return updated

    async def _announce_grade(
        self, connection: AsyncConnection, before: Account, after: Account
    ) -> Account:
        if after.grade != before.grade:
            now = self._clock.now()
            await self._outbox.add(
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
            await self._outbox.add(
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
        return await self._guard_green_channel(connection, after)

    async def _guard_green_channel(self, connection: AsyncConnection, account: Account) -> Account:
        """Losing the grade (or consent, or the account) loses the green channel at once;
        gaining it waits for the scheduled evaluation."""
        if not account.green_channel:
            return account
        policy = self._policies.at(self._clock.now())
        if account.refusal(policy) is None and policy.green_channel_for(account.grade):
            return account
        await self._outbox.add(
            connection,
            GreenChannelLost(
                subject_id=account.subject_id,
                subject_kind=account.subject_kind,
                grade=account.grade,
            ),
        )
        await self._outbox.add(
            connection,
            PartnerGreenChannelRevoked(
                subject_id=account.subject_id,
                subject_kind=account.subject_kind,
                community_id=account.community_id,
                grade=account.grade,
                effective_from=policy.local_date(self._clock.now()),
            ),
        )
        return replace(account, green_channel=False, green_valid_until=None)


def _add_quarter(first: date) -> date:
    month = first.month + 3
    return date(first.year + (month > 12), (month - 1) % 12 + 1, 1)
