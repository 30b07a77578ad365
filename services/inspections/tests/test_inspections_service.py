"""Inspection use cases against a freshly migrated database: SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Table, event, func, select
from sqlalchemy.engine import Connection

from conftest import MigratedDatabase
from linli_inspections import app
from linli_inspections.adapters import repository as repository_module
from linli_inspections.adapters import tables
from linli_inspections.domain.inspection import Finding, Inspection, Outcome
from linli_inspections.domain.policy import InspectionPolicy
from linli_inspections.service import UseCases
from linli_inspections.service import recording as recording_module
from linli_inspections.service.lookups import TargetRef
from linli_shared.clock import FixedClock
from linli_shared.contracts import CATALOGUE, InspectionFailed, InspectionPassed, topics
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.db import Database
from linli_shared.errors import Conflict, NotFound
from linli_shared.messaging.envelope import Envelope
from linli_shared.rules import RuleViolation
from services.inspections.tests.announced import announce_household
from tests.support.subject_keys import KeysForTests

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)  # the clock of the fixtures (conftest.py)


@pytest.fixture
async def postgresql(migrated_database: MigratedDatabase) -> AsyncIterator[Database]:
    """For what is about PostgreSQL itself: concurrent transactions, the migrated schema."""
    database = Database(await migrated_database(app.DEFINITION))
    yield database
    await database.dispose()


async def _count(database: Database, table: Table) -> int:
    async with database.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(table)) or 0)


async def _outbox_envelopes(database: Database) -> list[tuple[str, str, str, Envelope]]:
    async with database.connect() as connection:
        rows = (
            await connection.execute(
                select(tables.outbox)
                .where(tables.outbox.c.topic == topics.INSPECTIONS)
                .order_by(tables.outbox.c.seq)
            )
        ).all()
    return [
        (row.event_type, row.topic, row.partition_key, Envelope.from_json(row.payload))
        for row in rows
    ]


async def test_a_passed_inspection_is_stored_and_announced(
    use_cases: UseCases, database: Database
) -> None:
    subject = uuid.uuid4()
    await announce_household(database, subject)
    inspection, created = await use_cases.recording.record_inspection(
        subject_id=subject,
        subject_kind=SubjectKind.HOUSEHOLD,
        checklist="sanitation",
        inspector_id="inspector-1",
        inspected_at=None,  # defaults to the clock
        findings=[Finding("no exposed garbage", True, Severity.GENERAL)],
    )

    assert created is True
    stored = await use_cases.reads.get_inspection(inspection.id)
    assert stored == inspection
    assert stored.inspected_at == NOW
    assert stored.outcome is Outcome.PASSED
    assert await _count(database, tables.inspections) == 1

    recorded, (event_type, topic, key, envelope) = await _outbox_envelopes(database)
    assert recorded[0] == "linli.inspections.inspection.recorded.v1"
    assert event_type == "linli.inspections.inspection.passed.v1"
    assert topic == "linli.inspections.v1"
    assert key == str(subject)
    assert envelope.source == "/linli/inspections"
    assert envelope.subject == str(subject)
    event = envelope.parse(CATALOGUE)
    assert isinstance(event, InspectionPassed)
    assert event.inspection_id == inspection.id
    assert event.inspected_at == NOW


async def test_a_failed_inspection_is_stored_and_announced(
    use_cases: UseCases, database: Database, subject_keys: KeysForTests
) -> None:
    subject = uuid.uuid4()
    await announce_household(database, subject)
    inspected_at = NOW - timedelta(hours=1)
    findings = [
        Finding("no exposed garbage", True, Severity.SERIOUS),
        Finding("stairwells clear", False, Severity.GENERAL, note="楼道堆物"),
        Finding("no small ads", False, Severity.LIGHT),
    ]
    inspection, created = await use_cases.recording.record_inspection(
        subject_id=subject,
        subject_kind=SubjectKind.ORGANISATION,
        checklist="sanitation",
        inspector_id="inspector-1",
        inspected_at=inspected_at,
        findings=findings,
    )

    assert created is True
    stored = await use_cases.reads.get_inspection(inspection.id)
    assert stored == inspection
    assert stored.findings == tuple(findings)  # order kept
    assert stored.outcome is Outcome.FAILED
    async with database.connect() as connection:
        row = (await connection.execute(select(tables.inspections))).one()
    assert row.outcome == "failed"
    assert row.severity == "general"
    assert row.comply_by == NOW + timedelta(days=3)  # from the upload, not the hour before

    recorded, (event_type, topic, key, envelope), requested = await _outbox_envelopes(database)
    assert recorded[0] == "linli.inspections.inspection.recorded.v1"
    assert requested[0] == "linli.inspections.rectification.requested.v1"
    assert event_type == "linli.inspections.inspection.failed.v1"
    assert topic == "linli.inspections.v1"
    assert key == str(subject)
    event = envelope.parse(CATALOGUE)
    assert isinstance(event, InspectionFailed)
    assert event.inspection_id == inspection.id
    assert event.subject_kind is SubjectKind.ORGANISATION
    assert event.severity is Severity.GENERAL
    assert event.comply_by == NOW + timedelta(days=3)
    assert [(f.item, f.severity, f.note) for f in event.failed_findings] == [
        ("stairwells clear", Severity.GENERAL, None),  # never in clear
        ("no small ads", Severity.LIGHT, None),
    ]
    sealed = event.failed_findings[0].note_sealed_jointly
    assert sealed is not None and "楼道堆物" not in sealed.sealed
    assert sealed.subjects == [subject]  # the organisation's key alone: it has no members
    assert subject_keys.open_note(subject, sealed) == "楼道堆物"
    assert event.failed_findings[1].note_sealed_jointly is None


@contextlib.contextmanager
def _statements(database: Database) -> Iterator[list[str]]:
    """The statements sent meanwhile: an insert by its table, anything else by its verb."""
    sent: list[str] = []

    def note(connection: Connection, cursor: object, statement: str, *args: object) -> None:
        words = statement.split()
        sent.append(" ".join(words[:3]) if words[0] == "INSERT" else words[0])

    event.listen(database.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", note)


async def test_a_failed_inspection_is_recorded_in_seven_statements(
    use_cases: UseCases, database: Database
) -> None:
    subject = uuid.uuid4()
    await announce_household(database, subject)
    with _statements(database) as sent:
        await use_cases.recording.record_inspection(
            subject_id=subject,
            checklist="sanitation",
            inspector_id="inspector-1",
            inspected_at=None,
            findings=[Finding("stairwells clear", False, Severity.GENERAL, note="楼道堆物")],
        )

    # One read for the target, its community's zone, its schedule and the checklist's template;
    # one for the members whose keys seal the note; the four events in one executemany.
    assert sent == [
        "SELECT",
        "INSERT INTO inspections",
        "INSERT INTO findings",
        "SELECT",
        "INSERT INTO rectifications",
        "INSERT INTO rectification_timeline",
        "INSERT INTO outbox",
    ]


async def test_a_passed_inspection_of_a_target_is_recorded_in_four_statements(
    use_cases: UseCases, database: Database
) -> None:
    subject = uuid.uuid4()
    await announce_household(database, subject)
    with _statements(database) as sent:
        await use_cases.recording.record_inspection(
            target=TargetRef("household", str(subject)),
            checklist="sanitation",
            inspector_id="inspector-1",
            inspected_at=None,
            findings=[Finding("no-exposed-garbage", True, Severity.GENERAL)],
        )

    assert sent == [
        "SELECT",
        "INSERT INTO inspections",
        "INSERT INTO findings",
        "INSERT INTO outbox",
    ]


async def test_a_broken_rule_writes_nothing(use_cases: UseCases, database: Database) -> None:
    with pytest.raises(RuleViolation):
        await use_cases.recording.record_inspection(
            subject_id=uuid.uuid4(),
            subject_kind=SubjectKind.HOUSEHOLD,
            checklist="sanitation",
            inspector_id="inspector-1",
            inspected_at=NOW + timedelta(hours=1),
            findings=[Finding("no exposed garbage", False, Severity.GENERAL)],
        )
    assert await _count(database, tables.inspections) == 0
    assert await _count(database, tables.findings) == 0
    assert await _count(database, tables.outbox) == 0


def _same_inspection(inspection_id: uuid.UUID, subject: uuid.UUID) -> dict[str, Any]:
    return {
        "inspection_id": inspection_id,
        "subject_id": subject,
        "subject_kind": SubjectKind.HOUSEHOLD,
        "checklist": "sanitation",
        "inspector_id": "inspector-1",
        "inspected_at": NOW - timedelta(minutes=30),
        "findings": [Finding("no exposed garbage", False, Severity.SERIOUS)],
    }


async def test_sending_the_same_inspection_again_records_it_once(
    use_cases: UseCases, database: Database
) -> None:
    inspection_id, subject = uuid.uuid4(), uuid.uuid4()
    await announce_household(database, subject)

    first, first_created = await use_cases.recording.record_inspection(
        **_same_inspection(inspection_id, subject)
    )
    again, again_created = await use_cases.recording.record_inspection(
        **_same_inspection(inspection_id, subject)
    )

    assert (first_created, again_created) == (True, False)
    assert first.id == again.id == inspection_id
    assert again == first
    assert await _count(database, tables.inspections) == 1
    assert await _count(database, tables.findings) == 1
    assert await _count(database, tables.outbox) == 4  # recorded, failed, case requested, partner


async def test_the_same_id_with_other_content_is_a_conflict(
    use_cases: UseCases, database: Database
) -> None:
    inspection_id, subject = uuid.uuid4(), uuid.uuid4()
    await announce_household(database, subject)
    await use_cases.recording.record_inspection(**_same_inspection(inspection_id, subject))

    other = _same_inspection(inspection_id, subject)
    other["findings"] = [Finding("no exposed garbage", True, Severity.SERIOUS)]
    with pytest.raises(Conflict):
        await use_cases.recording.record_inspection(**other)

    assert (await use_cases.reads.get_inspection(inspection_id)).outcome is Outcome.FAILED
    assert await _count(database, tables.outbox) == 4  # of the first send only


async def test_two_concurrent_sends_of_one_inspection_record_it_once(
    postgresql: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An offline client retries while its first send is still in flight.

    Both transactions look the id up before either inserts (forced with a barrier after the
    lookup); the promise "sending it again records it once" must still hold: one is recorded,
    the other is answered as already recorded, and neither fails.
    """
    barrier = asyncio.Barrier(2)

    class BothLookFirst(repository_module.InspectionRepository):
        async def get(
            self, inspection_id: uuid.UUID, *, for_update: bool = False
        ) -> Inspection | None:
            found = await super().get(inspection_id, for_update=for_update)
            if for_update:
                # A fix that serialises the lookups makes the barrier moot; do not wait forever.
                with contextlib.suppress(TimeoutError, asyncio.BrokenBarrierError):
                    await asyncio.wait_for(barrier.wait(), timeout=5)
            return found

    monkeypatch.setattr(recording_module, "InspectionRepository", BothLookFirst)
    database = postgresql
    use_cases = app.build_use_cases(database, FixedClock(NOW), InspectionPolicy())
    inspection_id, subject = uuid.uuid4(), uuid.uuid4()
    await announce_household(database, subject)

    results = await asyncio.gather(
        use_cases.recording.record_inspection(**_same_inspection(inspection_id, subject)),
        use_cases.recording.record_inspection(**_same_inspection(inspection_id, subject)),
        return_exceptions=True,
    )

    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == [], f"a concurrent resend failed: {errors!r}"
    created = sorted(r[1] for r in results if not isinstance(r, BaseException))
    assert created == [False, True]
    assert await _count(database, tables.inspections) == 1
    assert await _count(database, tables.outbox) == 4  # recorded, failed, case requested, partner


async def test_unknown_inspection_is_not_found(use_cases: UseCases) -> None:
    with pytest.raises(NotFound):
        await use_cases.reads.get_inspection(uuid.uuid4())


def _drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, tables.metadata))


async def test_migrations_create_exactly_the_tables_the_code_uses(postgresql: Database) -> None:
    async with postgresql.connect() as connection:
        assert await connection.run_sync(_drift) == []
