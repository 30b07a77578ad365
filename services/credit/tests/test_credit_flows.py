"""Every credit flow against a real, freshly migrated PostgreSQL: registry accounts, consent,
rectification rewards and penalties, volunteer hours, five-good awards, appeals, repair, expiry,
green channel, reports, rebuild, and the replay properties (hypothesis)."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Executable, delete, select, text, update
from sqlalchemy.exc import DBAPIError

from conftest import MigratedDatabase
from linli_credit.adapters import tables
from linli_credit.app import DEFINITION, build_use_cases
from linli_credit.domain.ledger import evaluate
from linli_credit.domain.policy import PolicyBook, load_policy_book
from linli_credit.service import UseCases
from linli_shared.clock import FixedClock
from linli_shared.contracts import (
    CATALOGUE,
    HouseholdConsentChanged,
    HouseholdDeregistered,
    HouseholdMembersChanged,
    HouseholdRegistered,
    InspectionFailed,
    OrganisationRegistered,
    RectificationOverdue,
    RectificationVerified,
    topics,
)
from linli_shared.contracts.base import EventData
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.contracts.credit import AccountClosed, CreditSubjectKind, ScoreChanged
from linli_shared.contracts.inspections import FailedFindingV1
from linli_shared.contracts.partner_credit import (
    PartnerGradeChanged,
    PartnerGreenChannelGranted,
    PartnerGreenChannelRevoked,
)
from linli_shared.contracts.registry import ConsentV1, ContactV1, MemberV1
from linli_shared.db import Database
from linli_shared.errors import Conflict, NotFound
from linli_shared.messaging.envelope import Envelope
from linli_shared.rules import RuleViolation

# The shipped policy files, loaded as the app loads them (settings.policy_dir).
POLICIES = load_policy_book()
DEFAULT_POLICY = POLICIES.version("2026.1")

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
COMMUNITY = "dongcheng-01"
ALL_CRITERIA = {
    "patriotic_law_abiding_public_spirited": True,
    "learning_and_dedicated_at_work": True,
    "equality_respect_for_elders_good_neighbours": True,
    "modern_customs": True,
    "thrift_and_environmental_protection": True,
}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def service(database: Database, clock: FixedClock) -> UseCases:
    return build_use_cases(database, clock, PolicyBook((DEFAULT_POLICY,)))


# --- events as the other services publish them -----------------------------------------------


def registered(household: uuid.UUID, consent: bool | None = None) -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id=household,
        community_id=COMMUNITY,
        grid_id="grid-03",
        address="幸福路 12 号",
        members=[MemberV1(name="张伟", relation="head")],
        contact_email="zhang@example.cn",
        registered_at=T0 - timedelta(days=30),
        consent=None if consent is None else ConsentV1(integrity_scoring=consent),
    )


def failed(
    subject: uuid.UUID,
    severity: Severity = Severity.GENERAL,
    at: datetime = T0,
    inspection_id: uuid.UUID | None = None,
    kind: SubjectKind = SubjectKind.HOUSEHOLD,
) -> InspectionFailed:
    return InspectionFailed(
        inspection_id=inspection_id or uuid.uuid4(),
        subject_id=subject,
        subject_kind=kind,
        checklist="sanitation",
        inspected_at=at,
        severity=severity,
        failed_findings=[
            FailedFindingV1(item="stairwell free of clutter", severity=severity, note="纸箱")
        ],
        comply_by=at + timedelta(days=3),
        community_id=COMMUNITY,
    )


def verified(
    event: InspectionFailed, *, on_time: bool, at: datetime | None = None
) -> RectificationVerified:
    return RectificationVerified(
        rectification_id=uuid.uuid5(event.inspection_id, "rect"),
        inspection_id=event.inspection_id,
        subject_id=event.subject_id,
        subject_kind=event.subject_kind,
        severity=event.severity,
        comply_by=event.comply_by,
        reinspection_id=uuid.uuid4(),
        verified_at=at or event.inspected_at + timedelta(days=2),
        on_time=on_time,
    )


def overdue(event: InspectionFailed) -> RectificationOverdue:
    return RectificationOverdue(
        rectification_id=uuid.uuid5(event.inspection_id, "rect"),
        inspection_id=event.inspection_id,
        subject_id=event.subject_id,
        subject_kind=event.subject_kind,
        severity=event.severity,
        comply_by=event.comply_by,
        overdue_since=event.comply_by,
    )


async def deliver(service: UseCases, database: Database, event: EventData, event_id: str) -> Any:
    """What the consumer does: one transaction per event."""
    async with database.transaction():
        if isinstance(event, HouseholdRegistered):
            return await service.accounts.remember_household(event)
        if isinstance(event, OrganisationRegistered):
            return await service.accounts.remember_organisation(event)
        if isinstance(event, HouseholdConsentChanged):
            return await service.accounts.remember_consent(event)
        if isinstance(event, HouseholdDeregistered):
            return await service.accounts.forget_household(event)
        if isinstance(event, HouseholdMembersChanged):
            return await service.accounts.remember_members(event)
        if isinstance(event, InspectionFailed):
            return await service.posting.record_failed_inspection(event, event_id)
        assert isinstance(event, RectificationVerified | RectificationOverdue)
        return await service.posting.record_rectification(event, event_id)


async def published(
    database: Database, subject: uuid.UUID | None = None, topic: str = topics.CREDIT
) -> list[EventData]:
    """The events written to the outbox for one topic (by default the internal stream)."""
    async with database.connect() as connection:
        query = (
            select(tables.outbox.c.payload)
            .where(tables.outbox.c.topic == topic)
            .order_by(tables.outbox.c.seq)
        )
        if subject is not None:
            query = query.where(tables.outbox.c.partition_key == str(subject))
        rows = (await connection.execute(query)).all()
    return [Envelope.from_json(row.payload).parse(CATALOGUE) for row in rows]


def types(events: list[EventData]) -> list[str]:
    return [type(e).__name__ for e in events]


async def assert_projection_is_the_ledger(
    service: UseCases, subject: uuid.UUID, clock: FixedClock
) -> None:
    account = await service.reads.account(subject)
    truth = evaluate(await service.reads.entries(subject), service.reads.policy_now(), clock.now())
    assert (account.balance, account.score, account.grade) == (
        truth.balance,
        truth.score,
        truth.grade,
    )


# --- accounts from the registry, consent ----------------------------------------------------


async def test_accounts_open_from_registry_events_and_close_on_deregistration(
    service: UseCases, database: Database
) -> None:
    household, shop = uuid.uuid4(), uuid.uuid4()
    await deliver(service, database, registered(household), "r1")
    await deliver(
        service,
        database,
        OrganisationRegistered(
            organisation_id=shop,
            kind="shop",
            name="老王杂货",
            community_id=COMMUNITY,
            contact=ContactV1(email="wang@example.cn"),
            registered_at=T0,
        ),
        "r2",
    )
    assert (await service.reads.account(household)).community_id == COMMUNITY
    shop_account = await service.reads.account(shop)
    assert shop_account.subject_kind is CreditSubjectKind.ORGANISATION
    # A shop's frontage duty failing is scored on the shop.
    await deliver(service, database, failed(shop, kind=SubjectKind.ORGANISATION), "f1")
    assert (await service.reads.account(shop)).score == 980

    await deliver(
        service,
        database,
        HouseholdDeregistered(
            household_id=household, reason="moved away", deregistered_at=T0, version=2
        ),
        "d1",
    )
    closed = await service.reads.account(household)
    assert closed.closed_at == T0
    assert "closed" in (service.reads.scoring_refusal(closed) or "")
    assert await deliver(service, database, failed(household), "f2") is None
    assert await service.reads.entries(household) == []


async def test_a_household_without_consent_keeps_an_account_but_gets_no_entries(
    service: UseCases, database: Database
) -> None:
    household = uuid.uuid4()
    await deliver(service, database, registered(household, consent=False), "r1")
    assert await deliver(service, database, failed(household), "f1") is None
    account = await service.reads.account(household)
    assert (account.score, account.consent) == (1000, "declined")
    reason = service.reads.scoring_refusal(account)
    assert reason is not None and "consent" in reason
    assert await service.reads.entries(household) == []

    # Consent given later: from then on the household is scored.
    await deliver(
        service,
        database,
        HouseholdConsentChanged(
            household_id=household, consent=ConsentV1(integrity_scoring=True), version=2
        ),
        "c1",
    )
    assert await deliver(service, database, failed(household), "f2") is not None
    assert (await service.reads.account(household)).score == 980


# --- residents: accounts from the household's members, personal rules ----------------------

T_PERSONAL = datetime(2026, 8, 3, 2, 0, tzinfo=UTC)  # policy 2026.2: volunteer hours personal


def with_residents(
    household: uuid.UUID, *residents: uuid.UUID, consent: bool | None = None
) -> HouseholdRegistered:
    members = [
        MemberV1(name=f"成员{i}", relation="member", resident_id=r) for i, r in enumerate(residents)
    ]
    members.append(MemberV1(name="未登记", relation="member"))  # no resident id: no account
    return registered(household, consent).model_copy(update={"members": members})


def members(household: uuid.UUID, version: int, *residents: uuid.UUID) -> HouseholdMembersChanged:
    return HouseholdMembersChanged(
        household_id=household,
        members=[MemberV1(name="成员", relation="member", resident_id=r) for r in residents],
        changed_at=T0,
        version=version,
    )


async def test_resident_accounts_open_and_close_with_the_household_members(
    service: UseCases, database: Database
) -> None:
    household, a, b, c = (uuid.uuid4() for _ in range(4))
    await deliver(service, database, with_residents(household, a, b), "r1")
    for resident in (a, b):
        account = await service.reads.account(resident)
        assert account.subject_kind is CreditSubjectKind.RESIDENT
        assert (account.household_id, account.community_id) == (household, COMMUNITY)
    assert types(await published(database, a)) == ["AccountOpened"]

    await deliver(service, database, members(household, 2, b, c), "m2")
    assert (await service.reads.account(a)).closed_at == T0
    assert (await service.reads.account(b)).closed_at is None
    assert (await service.reads.account(c)).household_id == household
    [_, closed] = await published(database, a)
    assert isinstance(closed, AccountClosed) and closed.reason == "left_household"
    # An older member list (out of order, or redelivered) changes nothing.
    await deliver(service, database, members(household, 1, a), "m1")
    assert (await service.reads.account(a)).closed_at == T0
    assert (await service.reads.account(c)).closed_at is None

    # a joins another household: the same account, reopened there, its ledger kept.
    other = uuid.uuid4()
    await deliver(service, database, with_residents(other, a), "r2")
    moved = await service.reads.account(a)
    assert (moved.household_id, moved.closed_at) == (other, None)
    assert types(await published(database, a))[-1] == "AccountOpened"

    await deliver(
        service,
        database,
        HouseholdDeregistered(
            household_id=household, reason="moved", deregistered_at=T0, version=3
        ),
        "d1",
    )
    for subject in (household, b, c):
        account = await service.reads.account(subject)
        assert account.closed_at == T0 and "closed" in (
            service.reads.scoring_refusal(account) or ""
        )
    assert (await service.reads.account(a)).closed_at is None  # in the other household now
    last = (await published(database, c))[-1]
    assert isinstance(last, AccountClosed) and last.reason == "deregistered"


@pytest.fixture
def personal(database: Database, clock: FixedClock) -> UseCases:
    """The service with every policy version, at a time when volunteer hours are personal."""
    clock.set(T_PERSONAL)
    return build_use_cases(database, clock, POLICIES)


async def test_personal_volunteer_hours_go_to_the_resident_and_count_toward_the_household(
    personal: UseCases, database: Database, clock: FixedClock
) -> None:
    household, resident = uuid.uuid4(), uuid.uuid4()
    await deliver(personal, database, with_residents(household, resident), "r1")
    volunteer: dict[str, Any] = {
        "hours": 10,
        "served_on": date(2026, 8, 1),
        "activity": "street patrol",
        "resident": None,
        "recorded_by": "staff-li",
    }
    with pytest.raises(RuleViolation) as unnamed:
        await personal.awards.record_volunteer_hours(household, idempotency_key="k0", **volunteer)
    assert unnamed.value.field == "resident_id"

    entry, _ = await personal.awards.record_volunteer_hours(
        household, idempotency_key="k1", resident_id=resident, **volunteer
    )
    assert (entry.subject_id, entry.points, entry.policy_version) == (resident, 20, "2026.2")
    [mirror] = await personal.reads.entries(household)
    assert (mirror.points, mirror.cause["personal_entry_id"]) == (20, str(entry.id))
    assert (await personal.reads.account(resident)).score == 1020
    assert (await personal.reads.account(household)).score == 1020
    # Retried with the same key: the same entry, nothing added anywhere.
    again, created = await personal.awards.record_volunteer_hours(
        household, idempotency_key="k1", resident_id=resident, **volunteer
    )
    assert (again.id, created) == (entry.id, False)
    assert len(await personal.reads.entries(household)) == 1
    # The docs' worked example, step 3: each ledger's own yearly cap leaves 30 of 40 points.
    more, _ = await personal.awards.record_volunteer_hours(
        household, idempotency_key="k1b", resident_id=resident, **{**volunteer, "hours": 20}
    )
    assert (more.points, more.cause["capped_from"]) == (30, 40)
    assert (await personal.reads.account(resident)).score == 1050
    assert (await personal.reads.account(household)).score == 1050
    changes = [e for e in await published(database, resident) if isinstance(e, ScoreChanged)]
    assert [(c.subject_kind, c.points) for c in changes] == [
        (CreditSubjectKind.RESIDENT, 20),
        (CreditSubjectKind.RESIDENT, 30),
    ]
    for subject in (household, resident):
        await assert_projection_is_the_ledger(personal, subject, clock)

    # The household declines consent: its residents are no longer scored either, and say why.
    await deliver(
        personal,
        database,
        HouseholdConsentChanged(
            household_id=household, consent=ConsentV1(integrity_scoring=False), version=2
        ),
        "c1",
    )
    reason = personal.reads.scoring_refusal(await personal.reads.account(resident))
    assert reason is not None and "household's consent" in reason
    with pytest.raises(Conflict, match="household's consent"):
        await personal.awards.record_volunteer_hours(resident, idempotency_key="k2", **volunteer)
    assert len(await personal.reads.entries(resident)) == 2  # none after the refusal


# --- policy 2026.3: the opening score is neutral, the green channel is earned ---------------------
T_CALIBRATED = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai, policy 2026.3


@pytest.fixture
def calibrated(database: Database, clock: FixedClock) -> UseCases:
    """The service with every policy version, at a time when 2026.3 is in effect."""
    clock.set(T_CALIBRATED)
    return build_use_cases(database, clock, POLICIES)


async def test_a_new_account_opens_in_the_neutral_grade_without_the_green_channel(
    calibrated: UseCases, database: Database
) -> None:
    household = uuid.uuid4()
    await deliver(calibrated, database, registered(household), "r1")
    assert calibrated.reads.policy_now().version == "2026.3"
    account = await calibrated.reads.account(household)
    assert (account.score, account.grade) == (1000, "A")

    await calibrated.scheduled.evaluate_due()
    answer = await calibrated.green_channel.check_green_channel(household, checked_by="hall-1")
    assert not answer.granted and answer.grade == "A"
    assert "grade A does not earn" in answer.reason
    assert "GreenChannelGranted" not in types(await published(database, household))


async def test_one_light_offence_keeps_the_grade_and_tells_no_grade_change(
    calibrated: UseCases, database: Database
) -> None:
    household = uuid.uuid4()
    await deliver(calibrated, database, registered(household), "r1")
    await deliver(calibrated, database, failed(household, Severity.LIGHT, T_CALIBRATED), "f1")
    account = await calibrated.reads.account(household)
    assert (account.score, account.grade) == (995, "A")
    assert types(await published(database, household)) == ["AccountOpened", "ScoreChanged"]


async def test_a_five_good_family_that_volunteers_earns_the_green_channel(
    calibrated: UseCases, database: Database, clock: FixedClock
) -> None:
    household, resident = uuid.uuid4(), uuid.uuid4()
    await deliver(calibrated, database, with_residents(household, resident), "r1")
    await calibrated.awards.award_five_good(
        household, year=2026, criteria=ALL_CRITERIA, awarded_by="officer-zhao"
    )
    await calibrated.scheduled.evaluate_due()
    account = await calibrated.reads.account(household)
    assert (account.score, account.grade, account.green_channel) == (1100, "A", False)

    # Ten hours of volunteer service the same year (docs/credit.md, the 2026.3 worked example).
    await calibrated.awards.record_volunteer_hours(
        household,
        hours=10,
        served_on=date(2026, 12, 5),
        activity="street patrol",
        resident=None,
        resident_id=resident,
        idempotency_key="v1",
        recorded_by="staff-li",
    )
    account = await calibrated.reads.account(household)
    assert (account.score, account.grade) == (1120, "AA")
    # The hall asks right after: the answer is the new grade's, not the last evaluation's.
    answer = await calibrated.green_channel.check_green_channel(household, checked_by="hall-1")
    assert answer.granted and answer.grade == "AA"
    assert answer.valid_until == date(2027, 1, 6)
    assert types(await published(database, household))[-2:] == [
        "GradeChanged",
        "GreenChannelGranted",
    ]


async def test_under_a_policy_without_personal_rules_a_resident_s_hours_go_to_the_household(
    service: UseCases, database: Database
) -> None:
    household, resident = uuid.uuid4(), uuid.uuid4()
    await deliver(service, database, with_residents(household, resident), "r1")
    entry, _ = await service.awards.record_volunteer_hours(
        resident,
        hours=2,
        served_on=date(2026, 3, 1),
        activity="patrol",
        resident=None,
        idempotency_key="k1",
        recorded_by="staff-li",
    )
    assert entry.subject_id == household and entry.cause["resident_id"] == str(resident)
    assert await service.reads.entries(resident) == []


# --- rectifications ---------------------------------------------------------------------------


async def test_on_time_rectification_gives_back_half_of_the_penalty(
    service: UseCases, database: Database, clock: FixedClock
) -> None:
    household = uuid.uuid4()
    await deliver(service, database, registered(household), "r1")
    failure = failed(household, Severity.SERIOUS)
    penalty = await deliver(service, database, failure, "f1")
    clock.set(T0 + timedelta(days=2))
    refund = await deliver(service, database, verified(failure, on_time=True), "v1")
    assert await deliver(service, database, verified(failure, on_time=True), "v1") is None
    assert refund.points == 25 and refund.refers_to == penalty.id
    assert (await service.reads.account(household)).score == 975
    events = await published(database, household)
    assert types(events) == ["AccountOpened", "ScoreChanged", "GradeChanged", "ScoreChanged"]
    await assert_projection_is_the_ledger(service, household, clock)


async def test_overdue_then_late_verification_adds_one_further_penalty(
    service: UseCases, database: Database, clock: FixedClock
) -> None:
    household = uuid.uuid4()
    await deliver(service, database, registered(household), "r1")
    failure = failed(household, Severity.GENERAL)
    await deliver(service, database, failure, "f1")
    clock.set(T0 + timedelta(days=4))
    late = await deliver(service, database, overdue(failure), "o1")
    assert late.points == -10 and late.reason_code == "rectification.late"
    clock.set(T0 + timedelta(days=6))
    assert await deliver(service, database, verified(failure, on_time=False), "v1") is None
    assert (await service.reads.account(household)).score == 970


# --- rewards ---------------------------------------------------------------------------------


async def test_volunteer_hours_are_idempotent_by_key_and_capped_per_year(
    service: UseCases, database: Database
) -> None:
    household = uuid.uuid4()
    await deliver(service, database, registered(household), "r1")
    kwargs: dict[str, Any] = {
        "served_on": date(2026, 2, 28),
        "activity": "street patrol",
        "resident": "member-2",
        "recorded_by": "staff-li",
    }
    first, created = await service.awards.record_volunteer_hours(
        household, hours=10, idempotency_key="k1", **kwargs
    )
    again, created_again = await service.awards.record_volunteer_hours(
        household, hours=10, idempotency_key="k1", **kwargs
    )
    assert (created, created_again, again.id) == (True, False, first.id)
    assert first.points == 20
    capped, _ = await service.awards.record_volunteer_hours(
        household, hours=40, idempotency_key="k2", **kwargs
    )
    assert capped.points == 30 and capped.cause["capped_from"] == 80
    assert (await service.reads.account(household)).score == 1050


async def test_five_good_award_adds_points_once_a_year_and_is_announced(
    service: UseCases, database: Database
) -> None:
    household = uuid.uuid4()
    await deliver(service, database, registered(household), "r1")
    entry = await service.awards.award_five_good(
        household, year=2026, criteria=ALL_CRITERIA, awarded_by="officer-zhao"
    )
    assert entry.points == 100
    account = await service.reads.account(household)
    assert (account.score, account.grade) == (1100, "AAA")
    with pytest.raises(Conflict):
        await service.awards.award_five_good(
            household, year=2026, criteria=ALL_CRITERIA, awarded_by="officer-zhao"
        )
    events = await published(database, household)
    assert types(events) == [
        "AccountOpened",
        "ScoreChanged",
        "GradeChanged",
        "CommendationAwarded",
    ]


async def test_a_serious_record_vetoes_the_five_good_award(
    service: UseCases, database: Database
) -> None:
    household = uuid.uuid4()
    await deliver(service, database, registered(household), "r1")
    await deliver(service, database, failed(household, Severity.SERIOUS), "f1")
    with pytest.raises(RuleViolation) as vetoed:
        await service.awards.award_five_good(
            household, year=2026, criteria=ALL_CRITERIA, awarded_by="officer-zhao"
        )
    assert vetoed.value.field == "subject_id"


# --- appeals ---------------------------------------------------------------------------------


async def test_an_upheld_appeal_reverses_the_entry_retroactively(
    service: UseCases, database: Database, clock: FixedClock
) -> None:
    household = uuid.uuid4()
    await deliver(service, database, registered(household), "r1")
    failure = failed(household, Severity.GENERAL)
    penalty = await deliver(service, database, failure, "f1")
    clock.set(T0 + timedelta(days=2))
    await deliver(service, database, verified(failure, on_time=True), "v1")
    clock.set(T0 + timedelta(days=5))
    appeal = await service.appeals.file_appeal(
        penalty.id, grounds="不是我家的纸箱", filed_by="staff:li"
    )
    assert appeal.state == "received" and appeal.decide_by == date(2026, 3, 22)
    with pytest.raises(Conflict):
        await service.appeals.file_appeal(penalty.id, grounds="again", filed_by="staff:li")
    assert [a.id for a in (await service.appeals.list_appeals(state="received")).items] == [
        appeal.id
    ]

    clock.set(T0 + timedelta(days=7))
    decided = await service.appeals.decide_appeal(
        appeal.id, outcome="upheld", reason="photo shows a neighbour's boxes", decided_by="zhao"
    )
    assert decided.state == "upheld" and decided.reversal_entry_id is not None
    assert (await service.reads.account(household)).score == 1000
    # Dated to the original: at any past instant the corrected record nets to zero ...
    explained = await service.reads.explain(household, at=T0 + timedelta(hours=1))
    assert explained.evaluation.score == 1000
    # ... while the record as it stood then still shows the penalty.
    as_then = await service.reads.explain(household, at=T0 + timedelta(hours=1), known_at=T0)
    assert as_then.evaluation.score == 980
    with pytest.raises(Conflict):
        await service.appeals.decide_appeal(
            appeal.id, outcome="rejected", reason="x", decided_by="zhao"
        )
    events = types(await published(database, household))
    assert events[-5:] == [
        "AppealReceived",
        "ScoreChanged",  # the penalty reversed
        "GradeChanged",  # back to AA
        "ScoreChanged",  # the refund reversed
        "AppealDecided",
    ]
    await assert_projection_is_the_ledger(service, household, clock)


async def test_a_rejected_appeal_keeps_the_entry_and_says_why(
    service: UseCases, database: Database
) -> None:
    household = uuid.uuid4()
    await deliver(service, database, registered(household), "r1")
    penalty = await deliver(service, database, failed(household), "f1")
    appeal = await service.appeals.file_appeal(
        penalty.id, grounds="disagree", filed_by="resident:r1"
    )
    decided = await service.appeals.decide_appeal(
        appeal.id, outcome="rejected", reason="inspection photos confirm it", decided_by="zhao"
    )
    assert (decided.state, decided.decision_reason) == ("rejected", "inspection photos confirm it")
    assert (await service.reads.account(household)).score == 980
    [*_, last] = await published(database, household)
    assert last.model_dump()["outcome"] == "rejected"


async def test_appeal_and_repair_of_unknown_entries_are_not_found(service: UseCases) -> None:
    with pytest.raises(NotFound):
        await service.appeals.file_appeal(uuid.uuid4(), grounds="x", filed_by="staff:x")
    with pytest.raises(NotFound):
        await service.awards.repair(uuid.uuid4(), note="x", repaired_by="x")
    with pytest.raises(NotFound):
        await service.appeals.decide_appeal(
            uuid.uuid4(), outcome="upheld", reason="x", decided_by="x"
        )


# --- repair and expiry -------------------------------------------------------------------------


async def test_repair_on_application_after_the_minimum_period(
    service: UseCases, database: Database, clock: FixedClock
) -> None:
    household = uuid.uuid4()
    await deliver(service, database, registered(household), "r1")
    penalty = await deliver(service, database, failed(household, Severity.LIGHT), "f1")
    clock.set(T0 + timedelta(days=60))
    with pytest.raises(RuleViolation) as early:
        await service.awards.repair(penalty.id, note="fixed for good", repaired_by="zhao")
    assert "2026-06-02" in early.value.message
    clock.set(T0 + timedelta(days=95))
    repair = await service.awards.repair(penalty.id, note="fixed for good", repaired_by="zhao")
    assert repair.points == 5
    assert (await service.reads.account(household)).score == 1000
    events = await published(database, household)
    assert types(events)[-3:] == ["ScoreChanged", "GradeChanged", "EntryRepaired"]
    assert events[-1].model_dump()["how"] == "applied"
    # The expiry job later announces nothing for a repaired penalty, and the score holds.
    clock.set(T0 + timedelta(days=200))
    assert await service.scheduled.expire_due() == 2
    assert types(await published(database, household))[-1] == "EntryRepaired"
    assert len(await published(database, household)) == len(events)
    await assert_projection_is_the_ledger(service, household, clock)


async def test_entries_past_their_maximum_stop_counting_by_the_scheduled_job(
    service: UseCases, database: Database, clock: FixedClock
) -> None:
    household = uuid.uuid4()
    await deliver(service, database, registered(household), "r1")
    light = await deliver(service, database, failed(household, Severity.LIGHT), "f1")
    await deliver(service, database, failed(household, Severity.GENERAL), "f2")
    assert (await service.reads.account(household)).score == 975
    clock.set(T0 + timedelta(days=200))  # light (6 months) ended, general (12) not
    assert await service.scheduled.expire_due() == 1
    assert await service.scheduled.expire_due() == 0
    account = await service.reads.account(household)
    assert (account.score, account.grade) == (980, "A")
    [last] = (await published(database, household))[-1:]
    assert last.model_dump()["entry_id"] == light.id and last.model_dump()["how"] == "expired"
    clock.set(T0 + timedelta(days=400))
    assert await service.scheduled.expire_due() == 1
    assert (await service.reads.account(household)).grade == "AA"
    assert types(await published(database, household))[-2:] == ["EntryRepaired", "GradeChanged"]
    await assert_projection_is_the_ledger(service, household, clock)


# --- green channel ----------------------------------------------------------------------------


async def test_green_channel_granted_at_the_first_check_lost_with_the_grade_and_audited(
    service: UseCases, database: Database, clock: FixedClock
) -> None:
    household = uuid.uuid4()
    await deliver(service, database, registered(household), "r1")
    # Never evaluated, and its grade earns it: the hall's check evaluates it there and then.
    answer = await service.green_channel.check_green_channel(household, checked_by="hall-1")
    assert answer.granted and answer.grade == "AA"
    assert (answer.evaluated_at, answer.valid_until) == (T0, date(2026, 4, 1))
    assert await service.scheduled.evaluate_due() == 0  # evaluated today already
    again = await service.green_channel.check_green_channel(household, checked_by="hall-1")
    assert (again.granted, again.evaluated_at) == (True, T0)

    clock.set(T0 + timedelta(hours=2))
    await deliver(service, database, failed(household), "f1")
    answer = await service.green_channel.check_green_channel(household, checked_by="hall-2")
    assert not answer.granted and "grade A" in answer.reason
    assert types(await published(database, household)) == [
        "AccountOpened",
        "GreenChannelGranted",
        "ScoreChanged",
        "GradeChanged",
        "GreenChannelLost",
    ]
    async with database.connect() as connection:
        checks = (
            await connection.execute(
                select(tables.green_channel_checks).order_by(tables.green_channel_checks.c.id)
            )
        ).all()
    assert [(c.checked_by, c.granted, c.grade) for c in checks] == [
        ("hall-1", True, "AA"),
        ("hall-1", True, "AA"),
        ("hall-2", False, "A"),
    ]


async def test_partners_get_grade_and_green_channel_changes_without_personal_data(
    service: UseCases, database: Database, clock: FixedClock
) -> None:
    household = uuid.uuid4()
    await deliver(service, database, registered(household), "r1")
    await service.scheduled.evaluate_due()
    clock.set(T0 + timedelta(hours=2))
    await deliver(service, database, failed(household), "f1")

    async with database.connect() as connection:
        rows = (
            await connection.execute(
                select(tables.outbox)
                .where(tables.outbox.c.topic == topics.PARTNER_CREDIT)
                .order_by(tables.outbox.c.seq)
            )
        ).all()
    assert {row.partition_key for row in rows} == {str(household)}
    events = [Envelope.from_json(row.payload).parse(CATALOGUE) for row in rows]
    granted, grade, revoked = events
    assert isinstance(granted, PartnerGreenChannelGranted)
    assert (granted.subject_kind, granted.community_id, granted.grade) == (
        CreditSubjectKind.HOUSEHOLD,
        COMMUNITY,
        "AA",
    )
    assert (granted.effective_from, granted.valid_until) == (date(2026, 3, 2), date(2026, 4, 1))
    assert isinstance(grade, PartnerGradeChanged)
    assert (grade.grade_before, grade.grade, grade.effective_at) == (
        "AA",
        "A",
        T0 + timedelta(hours=2),
    )
    assert isinstance(revoked, PartnerGreenChannelRevoked)
    assert (revoked.grade, revoked.effective_from) == ("A", date(2026, 3, 2))
    # Nothing of the registry's personal data reaches the partner stream.
    for row in rows:
        text = row.payload.decode()
        for personal in ("张伟", "幸福路", "zhang@example.cn", "纸箱", "stairwell"):
            assert personal not in text


async def test_a_lapsed_grant_is_renewed_at_the_check_while_the_grade_still_earns_it(
    service: UseCases, database: Database, clock: FixedClock
) -> None:
    household = uuid.uuid4()
    await deliver(service, database, registered(household), "r1")
    await service.scheduled.evaluate_due()
    clock.set(T0 + timedelta(days=31))  # the 30-day grant has lapsed, not re-evaluated
    answer = await service.green_channel.check_green_channel(household, checked_by="hall")
    assert answer.granted and answer.evaluated_at == T0 + timedelta(days=31)
    assert answer.valid_until == date(2026, 5, 2)
    assert types(await published(database, household)).count("GreenChannelGranted") == 2


async def test_a_household_without_consent_gets_no_green_channel(
    service: UseCases, database: Database
) -> None:
    household = uuid.uuid4()
    await deliver(service, database, registered(household, consent=False), "r1")
    await service.scheduled.evaluate_due()
    answer = await service.green_channel.check_green_channel(household, checked_by="hall")
    assert not answer.granted and "consent" in answer.reason


# --- reports ------------------------------------------------------------------------------------


async def test_a_quarter_report_has_the_grade_distribution_and_red_and_black_lists(
    service: UseCases, database: Database, clock: FixedClock
) -> None:
    star, fine, poor = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for household in (star, fine, poor):
        await deliver(service, database, registered(household), f"r-{household}")
    # A resident's personal record is not one of the community's reported subjects.
    member = uuid.uuid4()
    await deliver(service, database, members(fine, 2, member), "m-fine")
    assert (await service.reads.account(member)).community_id == COMMUNITY
    await service.awards.award_five_good(star, year=2026, criteria=ALL_CRITERIA, awarded_by="zhao")
    for month in range(4):  # four months of serious failures: 50 a month, capped at 100/month
        for n in range(3):
            at = T0 - timedelta(days=60) + timedelta(days=30 * month + n)
            clock.set(max(at, T0))
            await deliver(service, database, failed(poor, Severity.SERIOUS, at), f"p{month}{n}")
    clock.set(T0 + timedelta(days=100))  # the second quarter is running
    q1 = await service.reads.grade_report(COMMUNITY, 2026, 1)
    assert q1.at == datetime(2026, 3, 31, 15, 59, 59, 999999, tzinfo=UTC)
    assert q1.distribution["AAA"] == 1 and q1.distribution["AA"] == 1
    assert [s for s, _, _ in q1.red_list] == [star]
    q2 = await service.reads.grade_report(COMMUNITY, 2026, 2)
    assert q2.at == T0 + timedelta(days=100)
    assert [(s, g) for s, _, g in q2.black_list] == [(poor, "C")]
    assert sum(q2.distribution.values()) == 3


# --- the ledger is append-only ------------------------------------------------------------------


async def test_the_database_refuses_to_change_or_delete_an_entry(
    service: UseCases, database: Database
) -> None:
    household = uuid.uuid4()
    await deliver(service, database, registered(household), "r1")
    entry = await deliver(service, database, failed(household), "f1")
    for statement in (
        update(tables.entries).where(tables.entries.c.id == entry.id).values(points=0),
        delete(tables.entries).where(tables.entries.c.id == entry.id),
    ):
        with pytest.raises(DBAPIError, match="immutable"):
            async with database.transaction() as connection:
                await connection.execute(statement)
    async with database.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM entries")) == 1


async def test_only_an_erasure_changes_an_entry_and_only_its_cause(
    service: UseCases, database: Database
) -> None:
    household = uuid.uuid4()
    await deliver(service, database, registered(household), "r1")
    entry = await deliver(service, database, failed(household), "f1")
    postgres = not database.is_sqlite
    erasing: list[Executable] = [text("SET LOCAL linli.erasure = 'on'")] if postgres else []
    this_entry = tables.entries.c.id == entry.id
    # Not saying it erases (PostgreSQL; SQLite is the embedded mode's single local user).
    unsaid: list[list[Executable]] = (
        [[update(tables.entries).where(this_entry).values(cause={})]] if postgres else []
    )
    refused: tuple[list[Executable], ...] = (
        *unsaid,
        # Saying it, but changing the points too.
        [*erasing, update(tables.entries).where(this_entry).values(cause={}, points=0)],
        [*erasing, delete(tables.entries).where(this_entry)],
    )
    for statements in refused:
        with pytest.raises(DBAPIError, match="immutable"):
            async with database.transaction() as connection:
                for statement in statements:
                    await connection.execute(statement)

    async with database.transaction() as connection:
        for statement in erasing:
            await connection.execute(statement)
        await connection.execute(update(tables.entries).where(this_entry).values(cause={}))
    async with database.connect() as connection:
        stored = (await connection.execute(select(tables.entries).where(this_entry))).one()
    assert stored.cause == {} and stored.points == entry.points


# --- replay and rebuild (hypothesis, on the real database) ---------------------------------------

Step = tuple[str, int, Severity, int]  # (kind, inspection number, severity, minutes later)
steps = st.lists(
    st.tuples(
        st.sampled_from(["failed", "on_time", "late", "overdue"]),
        st.integers(0, 4),
        st.sampled_from(list(Severity)),
        st.integers(1, 60 * 24 * 20),
    ),
    min_size=1,
    max_size=14,
)


def _stream(subject: uuid.UUID, plan: list[Step]) -> list[tuple[str, EventData, datetime]]:
    """Events with their ids and delivery times; rectifications only after their failure."""
    # The registry announces the household first: credit opens no account for a stranger.
    stream: list[tuple[str, EventData, datetime]] = [(f"{subject}-r", registered(subject), T0)]
    failures: dict[int, InspectionFailed] = {}
    at = T0
    for i, (kind, number, severity, minutes) in enumerate(plan):
        at += timedelta(minutes=minutes)
        inspection_id = uuid.uuid5(subject, f"inspection-{number}")
        event: EventData
        if kind == "failed" or number not in failures:
            event = failed(subject, severity, at, inspection_id)
            failures.setdefault(number, event)
        elif kind == "overdue":
            event = overdue(failures[number])
        else:
            event = verified(failures[number], on_time=kind == "on_time", at=at)
        stream.append((f"{subject}-{i}", event, at))
    return stream


async def _ledger(database: Database, subject: uuid.UUID) -> tuple[list[Any], list[Any]]:
    async with database.connect() as connection:
        entries = (
            await connection.execute(
                select(tables.entries)
                .where(tables.entries.c.subject_id == subject)
                .order_by(tables.entries.c.id)
            )
        ).all()
        account = (
            await connection.execute(
                select(tables.accounts).where(tables.accounts.c.subject_id == subject)
            )
        ).all()
    return [tuple(e) for e in entries], [tuple(a) for a in account]


@pytest.fixture
async def two_databases(any_migrated_database: MigratedDatabase) -> tuple[str, str]:
    return await any_migrated_database(DEFINITION), await any_migrated_database(DEFINITION)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=steps, seed=st.integers(0, 2**32 - 1))
def test_replaying_redelivered_events_in_any_order_gives_the_same_ledger_and_rebuild_equals_live(
    two_databases: tuple[str, str], plan: list[Step], seed: int
) -> None:
    asyncio.run(_replay_property(two_databases, plan, seed))


async def _replay_property(urls: tuple[str, str], plan: list[Step], seed: int) -> None:
    shuffle = random.Random(seed)
    subject = uuid.uuid4()
    stream = _stream(subject, plan)
    clean_db, messy_db = Database(urls[0]), Database(urls[1])
    try:
        clean_clock, messy_clock = FixedClock(T0), FixedClock(T0)
        clean = _service_for(clean_db, clean_clock)
        for event_id, event, at in stream:
            clean_clock.set(at)
            await deliver(clean, clean_db, event, event_id)
            # the score is always the policy applied to the counting entries
            await assert_projection_is_the_ledger(clean, subject, clean_clock)

        # The same stream with redeliveries: each event again at random later points, and at
        # the end every delivered event once more, in a random order.
        messy = _service_for(messy_db, messy_clock)
        deliveries = list(stream)
        for item in stream:
            for _ in range(shuffle.randint(0, 2)):
                first = next(i for i, d in enumerate(deliveries) if d[0] == item[0])
                deliveries.insert(shuffle.randint(first + 1, len(deliveries)), item)
        tail = [item for item in stream if shuffle.random() < 0.7]
        shuffle.shuffle(tail)
        last = stream[-1][2]
        for event_id, event, at in deliveries:
            messy_clock.set(at)
            await deliver(messy, messy_db, event, event_id)
        for event_id, event, _ in tail:
            messy_clock.set(last)
            await deliver(messy, messy_db, event, event_id)
        messy_clock.set(last)
        assert await _ledger(clean_db, subject) == await _ledger(messy_db, subject)

        # Rebuilding the projection from the ledger changes nothing.
        before = await _ledger(clean_db, subject)
        report = await clean.rebuild.rebuild()
        assert subject not in report.changed
        assert await _ledger(clean_db, subject) == before
    finally:
        await clean_db.dispose()
        await messy_db.dispose()


def _service_for(database: Database, clock: FixedClock) -> UseCases:
    return build_use_cases(database, clock, PolicyBook((DEFAULT_POLICY,)))


# Residents: member changes and personal volunteer hours, replayed with redeliveries.
ResidentStep = tuple[
    str, int, int
]  # ("members", bitmask of residents, _) | ("volunteer", who, hours)
resident_steps = st.lists(
    st.one_of(
        st.tuples(st.just("members"), st.integers(0, 7), st.just(0)),
        st.tuples(st.just("volunteer"), st.integers(0, 2), st.integers(1, 12)),
    ),
    min_size=1,
    max_size=10,
)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=resident_steps, seed=st.integers(0, 2**32 - 1))
def test_resident_ledgers_replay_to_the_same_ledger_and_rebuild_equals_live(
    two_databases: tuple[str, str], plan: list[ResidentStep], seed: int
) -> None:
    asyncio.run(_resident_replay_property(two_databases, plan, seed))


Action = tuple[str, HouseholdMembersChanged | tuple[uuid.UUID, int], datetime]


def _resident_stream(
    household: uuid.UUID, residents: list[uuid.UUID], plan: list[ResidentStep]
) -> list[Action]:
    """Member changes (versioned) and volunteer hours of residents who are members then."""
    stream: list[Action] = []
    current, at, version = set(residents), T_PERSONAL, 1
    for i, (kind, value, hours) in enumerate(plan):
        at += timedelta(hours=1)
        if kind == "members":
            version += 1
            current = {r for bit, r in enumerate(residents) if value & (1 << bit)}
            stream.append((f"m{i}", members(household, version, *sorted(current)), at))
        elif residents[value] in current:
            stream.append((f"v{i}", (residents[value], hours), at))
    return stream


async def _apply(service: UseCases, database: Database, action: Action) -> None:
    key, what, _ = action
    if isinstance(what, HouseholdMembersChanged):
        await deliver(service, database, what, key)
        return
    resident, hours = what
    await service.awards.record_volunteer_hours(
        resident,
        hours=hours,
        served_on=date(2026, 8, 1),
        activity="patrol",
        resident=None,
        idempotency_key=key,  # a retry with the same key, as a client would
        recorded_by="staff",
    )


async def _resident_replay_property(
    urls: tuple[str, str], plan: list[ResidentStep], seed: int
) -> None:
    shuffle = random.Random(seed)
    household, residents = uuid.uuid4(), [uuid.uuid4() for _ in range(3)]
    subjects = [household, *residents]
    stream = _resident_stream(household, residents, plan)
    clean_db, messy_db = Database(urls[0]), Database(urls[1])
    try:
        clean_clock, messy_clock = FixedClock(T_PERSONAL), FixedClock(T_PERSONAL)
        clean = build_use_cases(clean_db, clean_clock, POLICIES)
        messy = build_use_cases(messy_db, messy_clock, POLICIES)
        for service, db in ((clean, clean_db), (messy, messy_db)):
            await deliver(service, db, with_residents(household, *residents), "r1")
        for action in stream:
            clean_clock.set(action[2])
            await _apply(clean, clean_db, action)
            for subject in subjects:  # the score is always the policy over the counting entries
                await assert_projection_is_the_ledger(clean, subject, clean_clock)

        # Each action again at random later points (redeliveries, client retries), then the
        # registry events once more at the end in a random order.
        deliveries = list(stream)
        for item in stream:
            for _ in range(shuffle.randint(0, 2)):
                first = deliveries.index(item)
                deliveries.insert(shuffle.randint(first + 1, len(deliveries)), item)
        tail = [item for item in stream if shuffle.random() < 0.7]
        shuffle.shuffle(tail)
        for action in [*deliveries, *tail]:
            messy_clock.set(action[2])
            await _apply(messy, messy_db, action)
        for subject in subjects:
            assert await _ledger(clean_db, subject) == await _ledger(messy_db, subject)

        before = [await _ledger(clean_db, subject) for subject in subjects]
        report = await clean.rebuild.rebuild()
        assert not set(subjects) & set(report.changed)
        assert [await _ledger(clean_db, subject) for subject in subjects] == before
    finally:
        await clean_db.dispose()
        await messy_db.dispose()


async def test_rebuild_repairs_a_damaged_projection(service: UseCases, database: Database) -> None:
    household = uuid.uuid4()
    await deliver(service, database, registered(household), "r1")
    await deliver(service, database, failed(household, Severity.SERIOUS), "f1")
    live = await service.reads.account(household)
    async with database.transaction() as connection:
        await connection.execute(
            update(tables.accounts)
            .where(tables.accounts.c.subject_id == household)
            .values(score=1, grade="C", balance=-999)
        )
    report = await service.rebuild.rebuild()
    assert report.changed == [household]
    assert await service.reads.account(household) == live
    assert (await service.rebuild.rebuild()).changed == []
