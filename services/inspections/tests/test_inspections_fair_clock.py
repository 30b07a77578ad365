"""The fair clock: a rectification's comply-by period runs from when its responsible party was
told (the rectification notice's delivery), never from when the inspection was made, so an
inspection recorded offline and uploaded days later is not overdue on arrival.

Pure rules first, then the use cases on a migrated database (SQLite and PostgreSQL), with notify's
deliveries applied through inspections' real subscription, record processor and inbox.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from linli_inspections import app
from linli_inspections.adapters import tables
from linli_inspections.consumers import subscriptions
from linli_inspections.domain import rectification
from linli_inspections.domain.inspection import Finding, Inspection, record
from linli_inspections.domain.policy import InspectionPolicy
from linli_inspections.domain.rectification import ComplyClock, Rectification, Status
from linli_inspections.service import UseCases
from linli_inspections.service.recording import RecordRequest
from linli_shared.clock import FixedClock, SystemClock
from linli_shared.context import EventContext
from linli_shared.contracts import CATALOGUE, RectificationNotified, topics
from linli_shared.contracts.base import EventData
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.inbox import Inbox
from linli_shared.messaging.processing import Outcome, RecordProcessor, RetryPolicy
from linli_shared.messaging.records import IncomingRecord, OutgoingRecord
from linli_shared.pagination import PageRequest
from services.inspections.tests.announced import (
    announce_household,
    consume,
    delivered,
    household,
    undeliverable,
)
from tests.support.grid_scope import bearer_of

# Monday 2 March 2026, 10:00 in Shanghai: the upload.
UPLOADED = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
FIVE_DAYS_BACK = UPLOADED - timedelta(days=5)
PERIOD = timedelta(days=3)  # a general finding's
HOUSEHOLD = uuid.uuid4()


# --- pure rules -----------------------------------------------------------------------------


def _offline(inspected_at: datetime = FIVE_DAYS_BACK) -> Inspection:
    return record(
        subject_id=HOUSEHOLD,
        subject_kind=SubjectKind.HOUSEHOLD,
        checklist="sanitation",
        inspector_id="inspector-wang",
        inspected_at=inspected_at,
        findings=[Finding("stairwells-clear", False, Severity.GENERAL)],
        now=UPLOADED,
        time_zone="Asia/Shanghai",
    )


def _opened(clock: ComplyClock = ComplyClock.NOTIFIED) -> Rectification:
    case, _ = rectification.request(_offline(), UPLOADED, clock)
    return case


def _told(case: Rectification, at: datetime) -> Rectification:
    step = rectification.notify(case, notified_at=at, channel="email", notice_id="n-1")
    assert step is not None
    return step[0]


def test_an_offline_upload_is_provisionally_due_a_full_period_from_the_upload() -> None:
    case, entry = rectification.request(_offline(), UPLOADED)

    assert case.comply_by == UPLOADED + PERIOD  # not FIVE_DAYS_BACK + PERIOD, long past
    assert (case.observed_at, case.requested_at, case.notified_at) == (
        FIVE_DAYS_BACK,
        UPLOADED,
        None,
    )
    assert case.comply_clock is ComplyClock.NOTIFIED and case.awaiting_notification
    assert entry.kind == "requested"
    assert entry.detail["inspected_at"] == FIVE_DAYS_BACK.isoformat()
    assert entry.detail["received_at"] == UPLOADED.isoformat()


def test_the_notices_delivery_starts_a_full_period() -> None:
    told_at = UPLOADED + timedelta(hours=14)  # held for the morning digest, say
    step = rectification.notify(_opened(), notified_at=told_at, channel="sms", notice_id="notice-1")

    assert step is not None
    case, entry = step
    assert case.notified_at == told_at
    assert case.comply_by == told_at + PERIOD
    assert not case.awaiting_notification
    assert (entry.at, entry.kind) == (told_at, "notified")
    assert entry.detail == {
        "notice_id": "notice-1",
        "channel": "sms",
        "notified_at": told_at.isoformat(),
        "comply_by": (told_at + PERIOD).isoformat(),
        "comply_by_before": (UPLOADED + PERIOD).isoformat(),
    }


def test_the_deadline_is_never_earlier_than_a_full_period_from_the_upload() -> None:
    # Another service's clock a little behind: a delivery stamped before the upload.
    case = _told(_opened(), UPLOADED - timedelta(seconds=3))
    assert case.comply_by == UPLOADED + PERIOD


def test_periods_are_local_days_of_the_case() -> None:
    in_new_york = replace(_offline(), time_zone="America/New_York")
    case, _ = rectification.request(in_new_york, UPLOADED, ComplyClock.NOTIFIED)
    # Friday 6 March 15:00 UTC (10:00 in New York); the clocks move forward on the 8th.
    told = _told(case, datetime(2026, 3, 6, 15, 0, tzinfo=UTC))
    assert told.comply_by == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # 10:00 local, 71 hours


def test_a_case_is_never_overdue_before_its_party_was_told() -> None:
    case = _opened()
    assert rectification.mark_overdue(case, UPLOADED + timedelta(days=30)) is None

    told = _told(case, UPLOADED)
    assert rectification.mark_overdue(told, UPLOADED + PERIOD) is None
    step = rectification.mark_overdue(told, UPLOADED + PERIOD + timedelta(seconds=1))
    assert step is not None and step[0].status is Status.OVERDUE


def test_a_ready_case_is_rebased_too() -> None:
    ready, _ = rectification.report_ready(_opened(), reported_by="desk", now=UPLOADED)
    told = _told(ready, UPLOADED + timedelta(hours=1))
    assert (told.status, told.comply_by) == (Status.READY, UPLOADED + timedelta(hours=1) + PERIOD)


def test_under_the_upload_clock_a_delivery_is_recorded_and_moves_nothing() -> None:
    case = _opened(ComplyClock.UPLOADED)
    assert not case.awaiting_notification
    told = _told(case, UPLOADED + timedelta(hours=5))
    assert told.notified_at == UPLOADED + timedelta(hours=5)
    assert told.comply_by == UPLOADED + PERIOD


def test_a_case_opened_before_the_clock_was_kept_keeps_its_deadline() -> None:
    older = replace(_opened(), comply_clock=None, comply_by=FIVE_DAYS_BACK + PERIOD)
    assert rectification.mark_overdue(older, UPLOADED) is not None  # as it always was
    told = _told(older, UPLOADED)
    assert told.comply_by == FIVE_DAYS_BACK + PERIOD


def test_a_second_delivery_or_one_to_a_verified_case_changes_nothing() -> None:
    told = _told(_opened(), UPLOADED)
    again = UPLOADED + timedelta(days=1)
    assert rectification.notify(told, notified_at=again, channel="e", notice_id="2") is None
    verified = replace(_opened(), status=Status.VERIFIED)
    assert rectification.notify(verified, notified_at=UPLOADED, channel="e", notice_id="1") is None
    assert (
        rectification.notice_failed(verified, failed_at=UPLOADED, channel="e", notice_id="1")
        is None
    )


def test_an_undeliverable_notice_leaves_the_provisional_deadline_standing() -> None:
    step = rectification.notice_failed(
        _opened(), failed_at=UPLOADED + timedelta(minutes=3), channel="email", notice_id="n-1"
    )

    assert step is not None
    case, entry = step
    assert case.comply_clock is ComplyClock.UPLOADED and case.comply_by == UPLOADED + PERIOD
    assert entry.kind == "notice_failed"
    # Overdue when the provisional deadline passes: the grid worker then serves it by hand.
    assert rectification.mark_overdue(case, UPLOADED + PERIOD + timedelta(seconds=1)) is not None


# --- use cases ------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(UPLOADED)


@pytest.fixture
async def use_cases(use_cases: UseCases, database: Database) -> UseCases:
    await consume(use_cases, database, household(HOUSEHOLD))
    return use_cases


async def _upload_offline(use_cases: UseCases, inspected_at: datetime = FIVE_DAYS_BACK) -> Any:
    [result] = await use_cases.recording.record_batch(
        [
            RecordRequest(
                inspector_id="inspector-wang",
                inspection_id=uuid.uuid4(),
                subject_id=HOUSEHOLD,
                checklist="sanitation",
                inspected_at=inspected_at,
                findings=[Finding("stairwells clear", False, Severity.GENERAL, "楼道堆物")],
            )
        ]
    )
    assert result.status == "recorded" and result.inspection is not None
    inspection: Inspection = result.inspection
    return inspection


async def _case_of(use_cases: UseCases, inspection: Inspection) -> Rectification:
    [case] = (
        await use_cases.reads.search_rectifications(
            status=None,
            grid_id=None,
            subject_id=inspection.subject_id,
            page=PageRequest(limit=50, offset=0),
        )
    ).items
    return case


async def _events(database: Database) -> list[EventData]:
    async with database.connect() as connection:
        rows = await connection.execute(
            select(tables.outbox.c.payload)
            .where(tables.outbox.c.topic == topics.INSPECTIONS)
            .order_by(tables.outbox.c.seq)
        )
        return [Envelope.from_json(row.payload).parse(CATALOGUE) for row in rows]


async def test_an_offline_upload_dated_five_days_back_gets_its_full_period_from_notification(
    use_cases: UseCases, database: Database
) -> None:
    inspection = await _upload_offline(use_cases)
    case = await _case_of(use_cases, inspection)
    assert case.comply_by == UPLOADED + PERIOD  # provisional: from the upload
    assert (case.observed_at, case.requested_at) == (FIVE_DAYS_BACK, UPLOADED)

    # Not overdue on arrival, nor while the party has not been told.
    assert (await use_cases.sweep.sweep(UPLOADED)).overdue == 0
    assert (await use_cases.sweep.sweep(UPLOADED + timedelta(days=10))).overdue == 0

    told_at = UPLOADED + timedelta(minutes=2)
    await consume(use_cases, database, delivered(inspection, told_at))

    told, timeline = await use_cases.reads.get_rectification(case.id)
    assert (told.status, told.notified_at, told.comply_by) == (
        Status.OPEN,
        told_at,
        told_at + PERIOD,
    )
    assert [(e.kind, e.at) for e in timeline] == [("requested", UPLOADED), ("notified", told_at)]
    assert timeline[0].detail["inspected_at"] == FIVE_DAYS_BACK.isoformat()
    announced = (await _events(database))[-1]
    assert isinstance(announced, RectificationNotified)
    assert (announced.rectification_id, announced.notified_at, announced.channel) == (
        case.id,
        told_at,
        "email",
    )
    assert (announced.comply_by, announced.comply_by_before) == (
        told_at + PERIOD,
        UPLOADED + PERIOD,
    )

    # The overdue sweep keeps to the fair deadline.
    assert (await use_cases.sweep.sweep(told_at + PERIOD)).overdue == 0
    assert (await use_cases.sweep.sweep(told_at + PERIOD + timedelta(seconds=1))).overdue == 1


async def test_an_inspection_recorded_before_the_fair_clock_keeps_the_deadline_it_was_given(
    use_cases: UseCases, database: Database
) -> None:
    inspection = await _upload_offline(use_cases)
    announced = FIVE_DAYS_BACK + PERIOD  # as releases before the fair clock counted it
    async with database.transaction() as connection:
        await connection.execute(
            tables.inspections.update()
            .where(tables.inspections.c.id == inspection.id)
            .values(comply_by=announced)
        )

    assert (await use_cases.reads.get_inspection(inspection.id)).comply_by == announced


class _DeadLetters:
    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []

    async def send(self, records: Sequence[OutgoingRecord]) -> None:
        self.records.extend(records)


class _Worker:
    """Inspections' consumer as the worker runs it: records through the processor and inbox."""

    def __init__(self, use_cases: UseCases, database: Database) -> None:
        [subscription] = subscriptions(use_cases)
        self._processor = RecordProcessor(
            subscription,
            database,
            Inbox(tables.inbox),
            CATALOGUE,
            _DeadLetters(),
            RetryPolicy(max_attempts=1, initial_backoff=0.01, max_backoff=0.01),
            asyncio.Event(),
        )
        self._offset = 0

    async def process(self, event: EventData | Envelope) -> Outcome:
        envelope = (
            event
            if isinstance(event, Envelope)
            else Envelope.wrap(event, source="/linli/notify", context=EventContext("story"))
        )
        self._offset += 1
        return await self._processor.process(
            IncomingRecord(
                topics.NOTIFY,
                0,
                self._offset,
                envelope.partition_key.encode(),
                envelope.to_json(),
            )
        )


async def _timeline_kinds(use_cases: UseCases, case: Rectification) -> list[str]:
    _, timeline = await use_cases.reads.get_rectification(case.id)
    return [entry.kind for entry in timeline]


async def test_a_redelivered_delivery_changes_nothing(
    use_cases: UseCases, database: Database
) -> None:
    worker = _Worker(use_cases, database)
    inspection = await _upload_offline(use_cases)
    first = Envelope.wrap(
        delivered(inspection, UPLOADED + timedelta(minutes=1)),
        source="/linli/notify",
        context=EventContext("story"),
    )

    assert await worker.process(first) is Outcome.APPLIED
    assert await worker.process(first) is Outcome.DUPLICATE
    # Another delivery of it (a copy sent again after a crash) is no news either.
    later = delivered(inspection, UPLOADED + timedelta(days=1))
    assert await worker.process(later) is Outcome.APPLIED

    case = await _case_of(use_cases, inspection)
    assert case.comply_by == UPLOADED + timedelta(minutes=1) + PERIOD
    assert await _timeline_kinds(use_cases, case) == ["requested", "notified"]
    assert sum(isinstance(e, RectificationNotified) for e in await _events(database)) == 1


async def test_a_delivery_after_the_case_is_verified_changes_nothing(
    use_cases: UseCases, database: Database, clock: FixedClock
) -> None:
    inspection = await _upload_offline(use_cases)
    case = await _case_of(use_cases, inspection)
    clock.set(UPLOADED + timedelta(hours=1))
    await use_cases.recording.record(
        RecordRequest(
            inspector_id="inspector-wang",
            reinspection_of=case.id,
            findings=[Finding("stairwells clear", True, Severity.GENERAL)],
        )
    )

    await consume(use_cases, database, delivered(inspection, UPLOADED + timedelta(hours=2)))

    verified = await _case_of(use_cases, inspection)
    assert (verified.status, verified.notified_at, verified.comply_by) == (
        Status.VERIFIED,
        None,
        UPLOADED + PERIOD,
    )
    assert await _timeline_kinds(use_cases, case) == ["requested", "verified"]


@pytest.mark.parametrize(
    "other",
    [
        {"notice_type": "reinspection_result"},  # another notice about the inspection
        {"recipient_id": uuid.uuid4()},  # to someone else (the grid worker, say)
    ],
    ids=["another-notice", "another-recipient"],
)
async def test_only_the_rectification_notice_to_the_responsible_party_starts_the_period(
    use_cases: UseCases, database: Database, other: dict[str, Any]
) -> None:
    inspection = await _upload_offline(use_cases)
    await consume(use_cases, database, delivered(inspection, UPLOADED, **other))
    # A delivery naming no inspection, or one inspections never recorded, is no one's.
    anonymous = delivered(inspection, UPLOADED).model_copy(update={"inspection_id": None})
    await consume(use_cases, database, anonymous)
    stranger = delivered(inspection, UPLOADED).model_copy(update={"inspection_id": uuid.uuid4()})
    await consume(use_cases, database, stranger)

    case = await _case_of(use_cases, inspection)
    assert (case.notified_at, case.comply_by) == (None, UPLOADED + PERIOD)
    assert await _timeline_kinds(use_cases, case) == ["requested"]


async def test_an_undeliverable_notice_lets_the_case_go_overdue_on_its_provisional_deadline(
    use_cases: UseCases, database: Database
) -> None:
    inspection = await _upload_offline(use_cases)
    await consume(use_cases, database, undeliverable(inspection, UPLOADED + timedelta(minutes=5)))

    case = await _case_of(use_cases, inspection)
    assert (case.comply_clock, case.comply_by) == (ComplyClock.UPLOADED, UPLOADED + PERIOD)
    assert await _timeline_kinds(use_cases, case) == ["requested", "notice_failed"]
    report = await use_cases.sweep.sweep(UPLOADED + PERIOD + timedelta(seconds=1))
    assert (report.overdue, report.escalated) == (1, 1)  # to the grid worker, who tells them


@pytest.mark.parametrize("policy", [InspectionPolicy(comply_clock=ComplyClock.UPLOADED)])
async def test_under_the_upload_clock_the_period_runs_from_the_upload(
    use_cases: UseCases, database: Database
) -> None:
    inspection = await _upload_offline(use_cases)
    await consume(use_cases, database, delivered(inspection, UPLOADED + timedelta(hours=2)))

    case = await _case_of(use_cases, inspection)
    assert case.comply_clock is ComplyClock.UPLOADED
    assert (case.notified_at, case.comply_by) == (
        UPLOADED + timedelta(hours=2),
        UPLOADED + PERIOD,
    )
    assert (await use_cases.sweep.sweep(UPLOADED + PERIOD + timedelta(seconds=1))).overdue == 1


# --- the HTTP API -----------------------------------------------------------------------------


async def test_a_cases_page_shows_when_it_was_inspected_received_and_told(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await announce_household(database_url, HOUSEHOLD)
    inspector = bearer_of(("inspector",), subject="inspector-wang", grids=("g-01",))
    inspected_at = (datetime.now(UTC) - timedelta(days=5)).replace(microsecond=0)
    batch = {
        "inspections": [
            {
                "id": str(uuid.uuid4()),
                "subject_id": str(HOUSEHOLD),
                "checklist": "sanitation",
                "inspected_at": inspected_at.isoformat(),
                "findings": [{"item": "stairwells clear", "passed": False, "severity": "general"}],
            }
        ]
    }
    uploaded = await client.post("/v1/inspections/batch", json=batch, headers=inspector)
    assert uploaded.status_code == 200, uploaded.text
    [item] = uploaded.json()["results"]
    listed = await client.get(
        "/v1/rectifications", params={"subject_id": str(HOUSEHOLD)}, headers=inspector
    )
    [summary] = listed.json()["items"]
    received_at = datetime.fromisoformat(summary["requested_at"])
    assert datetime.fromisoformat(summary["comply_by"]) == received_at + PERIOD
    assert (summary["notified_at"], summary["comply_clock"]) == (None, "notified")

    database = Database(database_url)
    try:
        inspection = await _inspection(database, uuid.UUID(item["id"]))
        told_at = received_at + timedelta(seconds=40)
        await _deliver(database, delivered(inspection, told_at))
    finally:
        await database.dispose()

    response = await client.get(f"/v1/rectifications/{summary['id']}", headers=inspector)
    assert response.status_code == 200, response.text
    case = response.json()
    assert datetime.fromisoformat(case["observed_at"]) == inspected_at
    assert datetime.fromisoformat(case["notified_at"]) == told_at
    assert datetime.fromisoformat(case["comply_by"]) == told_at + PERIOD
    assert case["status"] == "open"
    requested, notified = case["timeline"]
    assert datetime.fromisoformat(requested["detail"]["inspected_at"]) == inspected_at
    assert datetime.fromisoformat(requested["detail"]["received_at"]) == received_at
    assert (notified["kind"], datetime.fromisoformat(notified["at"])) == ("notified", told_at)


async def _inspection(database: Database, inspection_id: uuid.UUID) -> Inspection:
    use_cases = app.build_use_cases(database, SystemClock(), InspectionPolicy())
    return await use_cases.reads.get_inspection(inspection_id)


async def _deliver(database: Database, event: EventData) -> None:
    await consume(app.build_use_cases(database, SystemClock(), InspectionPolicy()), database, event)
