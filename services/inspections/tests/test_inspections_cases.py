"""Targets, templates, rectification cases, the scheduled job, schedules, offline batches and
pest readings: pure rules first, then use cases against a migrated database (SQLite and
PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from linli_inspections.adapters import tables
from linli_inspections.domain import pest, rectification, schedule
from linli_inspections.domain.checklist import titles
from linli_inspections.domain.inspection import Finding
from linli_inspections.domain.policy import InspectionPolicy
from linli_inspections.domain.rectification import InvalidTransition, Rectification, Status
from linli_inspections.service import UseCases
from linli_inspections.service.cases import ReinspectionRequest
from linli_inspections.service.lookups import TargetRef
from linli_inspections.service.recording import RecordRequest
from linli_shared.clock import FixedClock
from linli_shared.contracts import (
    CATALOGUE,
    HouseholdDeregistered,
    InspectionFailed,
    RectificationReinspectionScheduled,
    RectificationRequested,
    topics,
)
from linli_shared.contracts.base import EventData
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.db import Database
from linli_shared.errors import Conflict
from linli_shared.messaging.envelope import Envelope
from linli_shared.pagination import PageRequest
from linli_shared.rules import RuleViolation
from services.inspections.tests.announced import consume, delivered, household, organisation

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday 2 March 2026, 09:00 in Shanghai.
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI).astimezone(UTC)
MANAGER = uuid.uuid4()
SHOP = uuid.uuid4()


# --- pure rules -----------------------------------------------------------------------------


def test_weeks_are_local_mondays() -> None:
    # Sunday 23:30 UTC is already Monday 07:30 in Shanghai.
    at = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert schedule.week_start(at, SHANGHAI) == datetime(2026, 3, 2, tzinfo=SHANGHAI)


def test_the_creation_week_is_not_evaluated_unless_it_started_then() -> None:
    plan = schedule.plan(
        target_kind="compound",
        target_id="cp",
        checklist="sanitation",
        times_per_week=2,
        grid_id="g",
        community_id="c",
        now=MONDAY + timedelta(days=3),
    )
    three_weeks_on = MONDAY + timedelta(days=21)
    weeks = schedule.weeks_due_for_evaluation(plan, None, three_weeks_on, SHANGHAI)
    assert weeks == [
        datetime(2026, 3, 9, tzinfo=SHANGHAI),
        datetime(2026, 3, 16, tzinfo=SHANGHAI),
    ]


def test_pest_densities_over_threshold_raise_findings() -> None:
    assert pest.finding(pest.read(pest.Pest.RAT, 1.0)) is None
    general = pest.finding(pest.read(pest.Pest.RAT, 1.5))
    serious = pest.finding(pest.read(pest.Pest.MOSQUITO, 11))
    assert general is not None and general.severity is Severity.GENERAL
    assert serious is not None and serious.severity is Severity.SERIOUS
    assert serious.item == "mosquito-density-within-standard"
    with pytest.raises(RuleViolation):
        pest.read(pest.Pest.FLY, -1)


def _case(**overrides: Any) -> Rectification:
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "inspection_id": uuid.uuid4(),
        "subject_id": MANAGER,
        "subject_kind": SubjectKind.ORGANISATION,
        "checklist": "sanitation",
        "target_kind": "compound",
        "target_id": "cp-01",
        "grid_id": "g-01",
        "community_id": "xingfu",
        "severity": Severity.GENERAL,
        "comply_by": MONDAY + timedelta(days=3),
        "failed_findings": (Finding("no-exposed-garbage", False, Severity.GENERAL),),
        "requested_at": MONDAY,
    }
    return Rectification(**(fields | overrides))


@pytest.mark.parametrize("status", [Status.OPEN, Status.READY, Status.OVERDUE])
def test_an_open_ready_or_overdue_case_has_its_reinspection_scheduled(status: Status) -> None:
    tomorrow = MONDAY + timedelta(days=1)
    case, entry = rectification.schedule_reinspection(
        _case(status=status),
        scheduled_for=tomorrow,
        scheduled_by="staff-li",
        now=MONDAY,
        inspector_id="inspector-wang",
        note="东门",
    )
    assert case.status is status
    assert case.scheduled_reinspection is not None
    assert case.scheduled_reinspection.scheduled_for == tomorrow
    assert case.scheduled_reinspection.inspector_id == "inspector-wang"
    assert (entry.at, entry.kind) == (MONDAY, "reinspection_scheduled")
    assert entry.detail == {
        "scheduled_for": tomorrow.isoformat(),
        "scheduled_by": "staff-li",
        "inspector_id": "inspector-wang",
        "note": "东门",
    }


def test_rescheduling_replaces_the_pending_reinspection_and_says_what_it_replaced() -> None:
    first, second = MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)
    case, _ = rectification.schedule_reinspection(
        _case(), scheduled_for=first, scheduled_by="a", now=MONDAY
    )
    case, entry = rectification.schedule_reinspection(
        case, scheduled_for=second, scheduled_by="b", now=MONDAY + timedelta(hours=1)
    )
    assert case.scheduled_reinspection is not None
    assert case.scheduled_reinspection.scheduled_for == second
    assert case.scheduled_reinspection.scheduled_by == "b"
    assert case.scheduled_reinspection.inspector_id is None
    assert entry.detail["replaces"] == first.isoformat()


def test_a_verified_case_refuses_a_reinspection_schedule() -> None:
    with pytest.raises(InvalidTransition):
        rectification.schedule_reinspection(
            _case(status=Status.VERIFIED),
            scheduled_for=MONDAY + timedelta(days=1),
            scheduled_by="a",
            now=MONDAY,
        )


def test_a_reinspection_is_not_scheduled_in_the_past_beyond_the_clock_skew() -> None:
    skew = timedelta(minutes=5)
    case, _ = rectification.schedule_reinspection(
        _case(), scheduled_for=MONDAY - skew, scheduled_by="a", now=MONDAY, clock_skew=skew
    )
    assert case.scheduled_reinspection is not None
    with pytest.raises(RuleViolation) as refused:
        rectification.schedule_reinspection(
            _case(),
            scheduled_for=MONDAY - skew - timedelta(seconds=1),
            scheduled_by="a",
            now=MONDAY,
            clock_skew=skew,
        )
    assert refused.value.field == "scheduled_for"
    with pytest.raises(RuleViolation) as naive:
        rectification.schedule_reinspection(
            _case(), scheduled_for=datetime(2026, 3, 3, 9), scheduled_by="a", now=MONDAY
        )
    assert naive.value.field == "scheduled_for"


# --- use cases on PostgreSQL ----------------------------------------------------------------


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY)


@pytest.fixture
def policy() -> InspectionPolicy:
    return InspectionPolicy(department_after=timedelta(days=2))


@pytest.fixture
async def use_cases(use_cases: UseCases) -> UseCases:
    # What the registry's events put into the read model (the consumer calls these).
    await use_cases.places.remember_organisation(organisation(MANAGER, compound_ids=["cp-01"]))
    await use_cases.places.remember_organisation(
        organisation(SHOP, frontage_segments=["xingfu-rd-10-20"])
    )
    return use_cases


async def _events(database: Database, topic: str = topics.INSPECTIONS) -> list[EventData]:
    async with database.connect() as connection:
        rows = (
            await connection.execute(
                select(tables.outbox)
                .where(tables.outbox.c.topic == topic)
                .order_by(tables.outbox.c.seq)
            )
        ).all()
    events = []
    for row in rows:
        event = Envelope.from_json(row.payload).parse(CATALOGUE)
        assert row.partition_key == event.partition_key()
        events.append(event)
    return events


def _names(events: list[EventData]) -> list[str]:
    return [type(e).__name__ for e in events]


async def _fail_compound(use_cases: UseCases, at: datetime) -> uuid.UUID:
    inspection, _ = await use_cases.recording.record(
        RecordRequest(
            inspector_id="inspector-wang",
            checklist="sanitation",
            target=TargetRef("compound", "cp-01"),
            inspected_at=at,
            findings=[
                Finding("no-exposed-garbage", False, Severity.GENERAL, "东门垃圾外露"),
                Finding("stairwells-clear", True, Severity.LIGHT),
            ],
            severity_given=[False, False],
        )
    )
    return inspection.id


async def _told(use_cases: UseCases, database: Database, inspection_id: uuid.UUID) -> None:
    """The rectification notice reaches the responsible party when the inspection is recorded
    (MONDAY): the comply-by period runs from then."""
    inspection = await use_cases.reads.get_inspection(inspection_id)
    await consume(use_cases, database, delivered(inspection, MONDAY))


async def test_failed_findings_carry_their_items_text_per_language_from_the_checklist_version(
    use_cases: UseCases, database: Database
) -> None:
    await _fail_compound(use_cases, MONDAY)

    _, failed, requested = await _events(database)
    assert isinstance(failed, InspectionFailed) and isinstance(requested, RectificationRequested)
    for event in (failed, requested):
        [finding] = event.failed_findings
        assert finding.item == "no-exposed-garbage"
        assert finding.title == {"zh-CN": "无暴露垃圾", "en": "no exposed garbage"}
    assert failed.checklist_title == {"zh-CN": "环境卫生检查", "en": "Sanitation"}


def test_a_checklist_text_is_simplified_chinese_with_an_optional_english_gloss() -> None:
    assert titles("无乱涂乱画、牛皮癣 no graffiti or small ads") == {
        "zh-CN": "无乱涂乱画、牛皮癣",
        "en": "no graffiti or small ads",
    }
    assert titles("无暴露垃圾") == {"zh-CN": "无暴露垃圾"}
    assert titles("环境卫生检查 v2") == {"zh-CN": "环境卫生检查 v2"}
    assert titles("bikes parked in order") == {"en": "bikes parked in order"}


async def test_a_failed_compound_inspection_is_the_property_managers_to_rectify(
    use_cases: UseCases, database: Database, clock: FixedClock
) -> None:
    inspection_id = await _fail_compound(use_cases, MONDAY)

    events = await _events(database)
    assert _names(events) == ["InspectionRecorded", "InspectionFailed", "RectificationRequested"]
    for event in events:
        data = event.model_dump()
        assert (data["subject_id"], data["subject_kind"]) == (MANAGER, SubjectKind.ORGANISATION)
        assert data["grid_id"] == "g-01"
    failed = events[1].model_dump()
    assert (failed["target_kind"], failed["target_id"]) == ("compound", "cp-01")
    assert failed["comply_by"] == MONDAY + timedelta(days=3)  # general: 3 days
    assert [f["item"] for f in failed["failed_findings"]] == ["no-exposed-garbage"]

    [case] = (
        await use_cases.reads.search_rectifications(
            status=None, grid_id="g-01", subject_id=MANAGER, page=_page()
        )
    ).items
    assert case.inspection_id == inspection_id

    clock.set(MONDAY + timedelta(days=1))
    await use_cases.cases.report_ready(case.id, "manager-desk")
    clock.set(MONDAY + timedelta(days=4))  # re-inspected after the deadline, reported before
    reinspection, _ = await use_cases.recording.record(
        RecordRequest(
            inspector_id="inspector-wang",
            reinspection_of=case.id,
            findings=[Finding("no-exposed-garbage", True, Severity.GENERAL)],
        )
    )
    verified, timeline = await use_cases.reads.get_rectification(case.id)
    assert verified.status.value == "verified" and verified.on_time is True
    assert [e.kind for e in timeline] == ["requested", "ready", "verified"]
    events = await _events(database)
    assert _names(events)[3:] == [
        "RectificationReady",
        "InspectionRecorded",
        "InspectionPassed",
        "RectificationVerified",
    ]
    assert events[4].model_dump()["is_reinspection"] is True
    assert events[6].model_dump()["reinspection_id"] == reinspection.id
    with pytest.raises(Conflict):
        await use_cases.cases.report_ready(case.id, "manager-desk")


async def test_a_scheduled_reinspection_is_announced_kept_in_the_timeline_and_cleared_when_done(
    use_cases: UseCases, database: Database, clock: FixedClock
) -> None:
    await _fail_compound(use_cases, MONDAY)
    [case] = (
        await use_cases.reads.search_rectifications(
            status=None, grid_id=None, subject_id=None, page=_page()
        )
    ).items
    first, second = MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)

    clock.set(MONDAY + timedelta(hours=1))
    await use_cases.cases.schedule_reinspection(
        case.id, ReinspectionRequest(first, "inspector-wang", "东门"), "staff-li"
    )
    clock.set(MONDAY + timedelta(hours=2))
    await use_cases.cases.schedule_reinspection(case.id, ReinspectionRequest(second), "staff-zhao")

    planned, timeline = await use_cases.reads.get_rectification(case.id)
    assert planned.status is Status.OPEN and planned.scheduled_reinspection is not None
    assert planned.scheduled_reinspection.scheduled_for == second
    assert planned.scheduled_reinspection.scheduled_by == "staff-zhao"
    assert planned.scheduled_reinspection.scheduled_at == MONDAY + timedelta(hours=2)
    assert planned.scheduled_reinspection.inspector_id is None
    assert [(e.kind, e.detail.get("scheduled_for")) for e in timeline] == [
        ("requested", None),
        ("reinspection_scheduled", first.isoformat()),
        ("reinspection_scheduled", second.isoformat()),
    ]
    assert timeline[1].detail["scheduled_by"] == "staff-li" and timeline[
        1
    ].at == MONDAY + timedelta(hours=1)
    [listed] = (
        await use_cases.reads.search_rectifications(
            status=None, grid_id=None, subject_id=None, page=_page()
        )
    ).items
    assert listed.scheduled_reinspection == planned.scheduled_reinspection

    events = (await _events(database))[3:]
    assert _names(events) == ["RectificationReinspectionScheduled"] * 2
    announced = events[0]
    assert isinstance(announced, RectificationReinspectionScheduled)
    assert (announced.rectification_id, announced.subject_id) == (case.id, MANAGER)
    assert (announced.scheduled_for, announced.inspector_id) == (first, "inspector-wang")
    assert "note" not in announced.model_dump()

    clock.set(second)
    await use_cases.recording.record(
        RecordRequest(
            inspector_id="inspector-wang",
            reinspection_of=case.id,
            findings=[Finding("no-exposed-garbage", False, Severity.GENERAL)],
        )
    )
    failed, _ = await use_cases.reads.get_rectification(case.id)
    assert failed.status is Status.OPEN and failed.scheduled_reinspection is None


async def test_scheduling_a_reinspection_refuses_a_verified_case_and_a_time_past(
    use_cases: UseCases, clock: FixedClock
) -> None:
    await _fail_compound(use_cases, MONDAY)
    [case] = (
        await use_cases.reads.search_rectifications(
            status=None, grid_id=None, subject_id=None, page=_page()
        )
    ).items
    with pytest.raises(RuleViolation) as past:
        await use_cases.cases.schedule_reinspection(
            case.id, ReinspectionRequest(MONDAY - timedelta(hours=1)), "staff-li"
        )
    assert past.value.field == "scheduled_for"
    _, timeline = await use_cases.reads.get_rectification(case.id)
    assert [e.kind for e in timeline] == ["requested"]

    await use_cases.recording.record(
        RecordRequest(
            inspector_id="inspector-wang",
            reinspection_of=case.id,
            findings=[Finding("no-exposed-garbage", True, Severity.GENERAL)],
        )
    )
    with pytest.raises(Conflict):
        await use_cases.cases.schedule_reinspection(
            case.id, ReinspectionRequest(MONDAY + timedelta(days=1)), "staff-li"
        )


async def test_overdue_cases_escalate_to_the_grid_worker_then_the_department(
    use_cases: UseCases, database: Database, clock: FixedClock
) -> None:
    await _told(use_cases, database, await _fail_compound(use_cases, MONDAY))
    deadline = MONDAY + timedelta(days=3)

    assert (await use_cases.sweep.sweep(deadline)).overdue == 0  # not yet past
    first = await use_cases.sweep.sweep(deadline + timedelta(minutes=1))
    assert (first.overdue, first.escalated) == (1, 1)
    assert (await use_cases.sweep.sweep(deadline + timedelta(days=1))).escalated == 0
    later = await use_cases.sweep.sweep(deadline + timedelta(days=2))
    assert (later.overdue, later.escalated) == (0, 1)
    assert await use_cases.sweep.sweep(deadline + timedelta(days=9)) == type(later)()

    events = (await _events(database))[4:]
    assert _names(events) == [
        "RectificationOverdue",
        "InspectionEscalated",
        "InspectionEscalated",
    ]
    levels = [(e.model_dump()["level"], e.model_dump()["department"]) for e in events[1:]]
    assert levels == [("grid_worker", None), ("department", "urban-management")]

    # Fixed late: verified, not on time.
    [case] = (
        await use_cases.reads.search_rectifications(
            status=None, grid_id=None, subject_id=None, page=_page()
        )
    ).items
    clock.set(deadline + timedelta(days=5))
    await use_cases.recording.record(
        RecordRequest(
            inspector_id="i",
            reinspection_of=case.id,
            inspected_at=deadline + timedelta(days=5),
            findings=[Finding("no-exposed-garbage", True, Severity.GENERAL)],
        )
    )
    verified, timeline = await use_cases.reads.get_rectification(case.id)
    assert verified.on_time is False
    assert [e.kind for e in timeline] == [
        "requested",
        "notified",
        "overdue",
        "escalated",
        "escalated",
        "verified",
    ]


async def test_partners_read_outcomes_and_department_cases_without_personal_data(
    use_cases: UseCases, database: Database, clock: FixedClock
) -> None:
    inspection_id = await _fail_compound(use_cases, MONDAY)
    await _told(use_cases, database, inspection_id)
    deadline = MONDAY + timedelta(days=3)
    await use_cases.sweep.sweep(deadline + timedelta(minutes=1))  # overdue, to the grid worker
    await use_cases.sweep.sweep(deadline + timedelta(days=2))  # to the department
    [case] = (
        await use_cases.reads.search_rectifications(
            status=None, grid_id=None, subject_id=None, page=_page()
        )
    ).items
    clock.set(deadline + timedelta(days=5))
    reinspection, _ = await use_cases.recording.record(
        RecordRequest(
            inspector_id="i",
            reinspection_of=case.id,
            findings=[Finding("no-exposed-garbage", True, Severity.GENERAL)],
        )
    )

    events = await _events(database, topics.PARTNER_INSPECTIONS)
    assert _names(events) == [
        "PartnerInspectionCompleted",
        "PartnerRectificationOverdue",
        "PartnerRectificationEscalated",
        "PartnerInspectionCompleted",
        "PartnerRectificationVerified",
    ]
    failed, overdue, escalated, passed, verified = (e.model_dump() for e in events)
    assert failed["inspection_id"] == inspection_id and failed["outcome"] == "failed"
    assert (failed["target_kind"], failed["target_id"], failed["grid_id"]) == (
        "compound",
        "cp-01",
        "g-01",
    )
    assert failed["failed_findings"] == [{"item": "no-exposed-garbage", "severity": "general"}]
    assert overdue["rectification_id"] == case.id
    assert escalated["department"] == "urban-management"
    assert passed["inspection_id"] == reinspection.id and passed["is_reinspection"] is True
    assert verified["on_time"] is False and verified["reinspection_id"] == reinspection.id
    # Nothing about the responsible party, and not the inspector's note (东门垃圾外露).
    for event in events:
        assert "subject_id" not in event.model_dump()
        assert "东门" not in event.model_dump_json()


async def test_twice_a_week_coverage_and_missed_weeks(
    use_cases: UseCases, database: Database, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 3, 2, 0, 0, tzinfo=SHANGHAI).astimezone(UTC))  # Monday 00:00 local
    plan = await use_cases.coverage.plan_schedule(
        target=TargetRef("compound", "cp-01"), checklist="sanitation", times_per_week=2
    )
    assert (plan.grid_id, plan.times_per_week) == ("g-01", 2)
    with pytest.raises(Conflict):
        await use_cases.coverage.plan_schedule(
            target=TargetRef("compound", "cp-01"), checklist="sanitation", times_per_week=2
        )
    clock.set(MONDAY + timedelta(days=10))
    await _fail_compound(use_cases, MONDAY)  # week 1: one of two
    for day in (7, 9):  # week 2: two of two
        await _fail_compound(use_cases, MONDAY + timedelta(days=day))

    week, rows = await use_cases.coverage.coverage("g-01", MONDAY)
    assert week == datetime(2026, 3, 2, tzinfo=SHANGHAI)
    assert [(r.due, r.done, r.missed) for r in rows] == [(2, 1, 1)]

    report = await use_cases.sweep.sweep(MONDAY + timedelta(days=14))
    assert report.missed == 1
    assert (await use_cases.sweep.sweep(MONDAY + timedelta(days=14))).missed == 0  # once per week
    [missed] = [e for e in await _events(database) if type(e).__name__ == "ScheduleMissed"]
    data = missed.model_dump()
    assert (data["schedule_id"], data["due"], data["done"]) == (plan.id, 2, 1)
    assert data["week_starting"] == datetime(2026, 3, 2, tzinfo=SHANGHAI)
    recorded = [e.model_dump() for e in await _events(database)]
    assert {e.get("schedule_id") for e in recorded if "outcome" in e} == {plan.id}


async def test_an_offline_batch_is_recorded_once_however_often_it_is_sent(
    use_cases: UseCases, database: Database
) -> None:
    batch = [
        RecordRequest(
            inspector_id="inspector-li",
            inspection_id=uuid.uuid4(),
            checklist="frontage_duty",
            target=TargetRef("frontage_segment", "xingfu-rd-10-20"),
            inspected_at=MONDAY - timedelta(hours=3 - i),
            findings=[Finding("frontage-clean", i != 1, Severity.GENERAL)],
            severity_given=[True],
        )
        for i in range(3)
    ]
    first = await use_cases.recording.record_batch(batch)
    half = await use_cases.recording.record_batch(batch[1:])
    again = await use_cases.recording.record_batch(batch)

    assert [r.status for r in first] == ["recorded"] * 3
    assert [r.status for r in half] == ["duplicate"] * 2
    assert [r.status for r in again] == ["duplicate"] * 3
    async with database.connect() as connection:
        count = len((await connection.execute(select(tables.inspections.c.id))).all())
    assert count == 3
    names = _names(await _events(database))
    assert names.count("InspectionRecorded") == 3
    assert names.count("RectificationRequested") == 1
    failed = [e for e in await _events(database) if type(e).__name__ == "InspectionFailed"]
    assert failed[0].model_dump()["subject_id"] == SHOP


async def test_unknown_targets_and_items_are_rule_violations(
    use_cases: UseCases,
) -> None:
    with pytest.raises(RuleViolation) as unknown:
        await use_cases.recording.record(
            RecordRequest(
                inspector_id="i",
                checklist="sanitation",
                target=TargetRef("compound", "nowhere"),
                findings=[Finding("no-exposed-garbage", True, Severity.GENERAL)],
            )
        )
    assert unknown.value.field == "target.id"
    with pytest.raises(RuleViolation) as item:
        await use_cases.recording.record(
            RecordRequest(
                inspector_id="i",
                checklist="sanitation",
                target=TargetRef("compound", "cp-01"),
                findings=[Finding("no-unicorns", True, Severity.GENERAL)],
            )
        )
    assert item.value.field == "findings.0.item"


async def test_a_pest_point_answers_to_a_party_the_registry_announced(
    use_cases: UseCases,
) -> None:
    async def add(point_id: str, responsible: uuid.UUID) -> Any:
        return await use_cases.pests.add_pest_point(
            id=point_id,
            community_id="xingfu",
            grid_id="g-01",
            name="幸福花园垃圾站",
            location=None,
            compound_id=None,
            responsible_id=responsible,
            responsible_kind=SubjectKind.ORGANISATION,
        )

    with pytest.raises(RuleViolation) as unknown:
        await add("pp-ghost", uuid.uuid4())
    assert unknown.value.field == "responsible_id"
    assert (await add("pp-02", MANAGER)).responsible_id == MANAGER


async def test_a_pest_reading_over_threshold_raises_a_finding_once(
    use_cases: UseCases, database: Database
) -> None:
    await use_cases.pests.add_pest_point(
        id="pp-01",
        community_id="xingfu",
        grid_id="g-01",
        name="幸福花园垃圾站",
        location=None,
        compound_id="cp-01",
        responsible_id=None,
        responsible_kind=None,
    )
    calm, none = await use_cases.pests.record_reading(
        reading_id=None,
        point_id="pp-01",
        pest=pest.Pest.FLY,
        density=2,
        measured_at=None,
        recorded_by="i",
    )
    assert none is None and calm.threshold == 3.0
    reading_id = uuid.uuid4()
    for _ in range(2):
        _, inspection = await use_cases.pests.record_reading(
            reading_id=reading_id,
            point_id="pp-01",
            pest=pest.Pest.RAT,
            density=2.5,
            measured_at=None,
            recorded_by="i",
        )
    assert inspection is not None and inspection.subject_id == MANAGER
    assert inspection.severity is Severity.SERIOUS
    assert _names(await _events(database)).count("InspectionFailed") == 1


async def test_the_read_model_follows_the_registry(use_cases: UseCases) -> None:
    household_id = uuid.uuid4()
    places = use_cases.places
    await places.remember_household(household(household_id, grid_id="g-02", community_id="c"))
    await places.remember_organisation(organisation(SHOP))  # answers for no segment now
    target = await places.responsible_for(TargetRef("household", str(household_id)))
    assert target.grid_id == "g-02"
    await places.forget_household(
        HouseholdDeregistered(
            household_id=household_id, reason="moved away", deregistered_at=MONDAY, version=2
        )
    )
    with pytest.raises(RuleViolation):
        await places.responsible_for(TargetRef("household", str(household_id)))
    with pytest.raises(RuleViolation):
        await places.responsible_for(TargetRef("frontage_segment", "xingfu-rd-10-20"))


def _page() -> PageRequest:
    return PageRequest()
