"""The registry's places in inspections: its events feed the read model (through the consumer's
handlers, on SQLite and PostgreSQL), and each community's time zone decides its weeks and
comply-by dates. Two communities, Shanghai and New York, across the US daylight-saving change
of 8 March 2026: the same instants give different answers."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from linli_inspections.adapters import tables
from linli_inspections.domain.inspection import Finding
from linli_inspections.domain.policy import InspectionPolicy
from linli_inspections.service import UseCases
from linli_inspections.service.lookups import TargetRef
from linli_inspections.service.recording import RecordRequest
from linli_shared.clock import FixedClock
from linli_shared.contracts import (
    CATALOGUE,
    CommunityCreated,
    CompoundChanged,
    CompoundCreated,
    GridCreated,
    OrganisationRegistered,
)
from linli_shared.contracts.common import Severity
from linli_shared.contracts.inspections import ScheduleMissed
from linli_shared.contracts.registry import ContactV1
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope
from services.inspections.tests.announced import consume, delivered

PLANNED = datetime(2026, 2, 18, 12, 0, tzinfo=UTC)
MANAGERS = {"east": uuid.uuid4(), "west": uuid.uuid4()}
ZONES = {"east": "Asia/Shanghai", "west": "America/New_York"}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(PLANNED)


@pytest.fixture
def policy() -> InspectionPolicy:
    # The setting says Shanghai: the New York community differs only through its own events.
    return InspectionPolicy(time_zone="Asia/Shanghai")


async def _two_communities(use_cases: UseCases, database: Database) -> None:
    for side, zone in ZONES.items():
        for event in (
            CommunityCreated(community_id=side, name=side, time_zone=zone, created_at=PLANNED),
            GridCreated(grid_id=f"g-{side}", community_id=side, name="1", created_at=PLANNED),
            CompoundCreated(
                compound_id=f"cp-{side}",
                community_id=side,
                grid_id=f"g-{side}",
                name="Court",
                address="1 Road",
                property_manager_id=MANAGERS[side],
                created_at=PLANNED,
            ),
        ):
            await consume(use_cases, database, event)


async def _fail(use_cases: UseCases, side: str, at: datetime) -> Any:
    inspection, _ = await use_cases.recording.record(
        RecordRequest(
            inspector_id="inspector-wang",
            checklist="sanitation",
            target=TargetRef("compound", f"cp-{side}"),
            inspected_at=at,
            findings=[Finding("no-exposed-garbage", False, Severity.GENERAL)],
            severity_given=[False],
        )
    )
    return inspection


async def test_a_compound_event_names_its_manager_grid_and_community(
    use_cases: UseCases, database: Database
) -> None:
    await _two_communities(use_cases, database)
    target = await use_cases.places.responsible_for(TargetRef("compound", "cp-west"))
    assert (target.subject_id, target.grid_id, target.community_id) == (
        MANAGERS["west"],
        "g-west",
        "west",
    )


async def test_the_compound_s_own_events_decide_its_manager(
    use_cases: UseCases, database: Database
) -> None:
    await _two_communities(use_cases, database)
    stale = uuid.uuid4()
    # An organisation event claiming the compound arrives after the compound's own event that
    # names another manager (other keys, other partitions: no order between them).
    await consume(
        use_cases,
        database,
        OrganisationRegistered(
            organisation_id=stale,
            kind="property_manager",
            name="Old Estates",
            community_id="east",
            compound_ids=["cp-east"],
            contact=ContactV1(email="old@example.org"),
            registered_at=PLANNED,
        ),
    )
    target = await use_cases.places.responsible_for(TargetRef("compound", "cp-east"))
    assert target.subject_id == MANAGERS["east"]

    await consume(
        use_cases,
        database,
        CompoundChanged(
            compound_id="cp-east",
            community_id="east",
            grid_id="g-east",
            name="Court",
            address="1 Road",
            property_manager_id=None,
            changed_at=PLANNED,
        ),
    )
    async with database.connect() as connection:
        forgotten = await connection.scalar(
            select(tables.targets.c.id).where(tables.targets.c.id == "cp-east")
        )
    assert forgotten is None  # nobody answers for it now: it cannot be inspected as a target


async def test_comply_by_and_overdue_count_local_days_of_the_community(
    use_cases: UseCases, database: Database, clock: FixedClock
) -> None:
    await _two_communities(use_cases, database)
    # Friday 6 March 15:00 UTC; three local days later New York has moved its clocks forward.
    inspected = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
    clock.set(inspected)
    east, west = (
        await _fail(use_cases, "east", inspected),
        await _fail(use_cases, "west", inspected),
    )

    assert east.comply_by == datetime(2026, 3, 9, 15, 0, tzinfo=UTC)  # 72 hours
    assert west.comply_by == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # 10:00 local again: 71 h
    assert (await use_cases.reads.get_inspection(west.id)).comply_by == west.comply_by
    for failed in (east, west):  # each manager is told at once: the period runs from then
        await consume(use_cases, database, delivered(failed, inspected))

    report = await use_cases.sweep.sweep(datetime(2026, 3, 9, 14, 30, tzinfo=UTC))
    assert report.overdue == 1
    async with database.connect() as connection:
        overdue = (
            await connection.execute(
                select(tables.rectifications.c.community_id).where(
                    tables.rectifications.c.status == "overdue"
                )
            )
        ).all()
    assert [row.community_id for row in overdue] == ["west"]


async def test_weeks_of_coverage_and_missed_schedules_are_local_to_the_community(
    use_cases: UseCases, database: Database, clock: FixedClock
) -> None:
    await _two_communities(use_cases, database)
    for side in ZONES:
        await use_cases.coverage.plan_schedule(
            target=TargetRef("compound", f"cp-{side}"), checklist="sanitation", times_per_week=2
        )
    # Sunday 1 March 20:00 UTC: Monday 04:00 in Shanghai, still Sunday 15:00 in New York.
    sunday_evening = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    clock.set(sunday_evening)
    for side in ZONES:
        await _fail(use_cases, side, sunday_evening)

    east_start, [east] = await use_cases.coverage.coverage("g-east", date(2026, 3, 2))
    west_start, [west] = await use_cases.coverage.coverage("g-west", date(2026, 3, 2))
    assert east_start == datetime(2026, 3, 2, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert west_start == datetime(2026, 3, 2, tzinfo=ZoneInfo("America/New_York"))
    assert (east.done, west.done) == (1, 0)

    # Sunday 8 March 20:00 UTC: the week of 2 March is over in Shanghai, not yet in New York.
    await use_cases.sweep.sweep(datetime(2026, 3, 8, 20, 0, tzinfo=UTC))
    async with database.connect() as connection:
        rows = (await connection.execute(select(tables.outbox))).all()
    missed = [
        event
        for event in (Envelope.from_json(row.payload).parse(CATALOGUE) for row in rows)
        if isinstance(event, ScheduleMissed)
    ]
    weeks = sorted((e.community_id, e.week_starting.date().isoformat()) for e in missed)
    assert weeks == [("east", "2026-02-23"), ("east", "2026-03-02"), ("west", "2026-02-23")]


async def test_an_unknown_community_falls_back_to_the_setting(
    use_cases: UseCases, database: Database, clock: FixedClock
) -> None:
    await consume(
        use_cases,
        database,
        CompoundCreated(
            compound_id="cp-nowhere",
            community_id="not-yet-known",
            grid_id="g-x",
            name="Court",
            address="1 Road",
            property_manager_id=uuid.uuid4(),
            created_at=PLANNED,
        ),
    )
    clock.set(datetime(2026, 3, 6, 15, 0, tzinfo=UTC))
    inspection = await _fail(use_cases, "nowhere", datetime(2026, 3, 6, 15, 0, tzinfo=UTC))
    assert inspection.time_zone == "Asia/Shanghai"
    assert inspection.comply_by == datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
