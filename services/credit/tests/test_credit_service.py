"""Credit use cases against a real, freshly migrated PostgreSQL database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Table, event, func, select
from sqlalchemy.engine import Connection

from linli_credit.adapters import tables
from linli_credit.adapters.repository import LedgerRepository
from linli_credit.app import SOURCE, build_use_cases
from linli_credit.domain.ledger import score_of
from linli_credit.domain.policy import PolicyBook, load_policy_book
from linli_credit.service import UseCases
from linli_credit.service.scoring import Scoring
from linli_shared.clock import FixedClock
from linli_shared.context import event_context
from linli_shared.contracts import CATALOGUE, HouseholdRegistered, InspectionFailed, ScoreChanged
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.contracts.credit import CreditSubjectKind
from linli_shared.contracts.inspections import FailedFindingV1
from linli_shared.contracts.registry import MemberV1
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.messaging.envelope import Envelope, MalformedEvent
from linli_shared.messaging.outbox import Outbox
from linli_shared.messaging.processing import UnknownSubject

# The shipped policy files, loaded as the app loads them (settings.policy_dir).
POLICIES = load_policy_book()
DEFAULT_POLICY = POLICIES.version("2026.1")

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def service(database: Database, clock: FixedClock) -> UseCases:
    # As app.py builds them, with a pinned clock.
    return build_use_cases(database, clock, PolicyBook((DEFAULT_POLICY,)))


async def _types(database: Database) -> list[str]:
    async with database.connect() as connection:
        rows = await connection.execute(
            select(tables.outbox.c.event_type)
            .where(tables.outbox.c.topic == "linli.credit.v1")
            .order_by(tables.outbox.c.seq)
        )
        return [row.event_type for row in rows]


def failed(
    subject: uuid.UUID, severity: Severity = Severity.GENERAL, *, hours_ago: int = 1
) -> InspectionFailed:
    inspected_at = NOW - timedelta(hours=hours_ago)
    return InspectionFailed(
        inspection_id=uuid.uuid4(),
        subject_id=subject,
        subject_kind=SubjectKind.HOUSEHOLD,
        checklist="sanitation",
        inspected_at=inspected_at,
        severity=severity,
        failed_findings=[FailedFindingV1(item="stairwells clear", severity=severity)],
        comply_by=inspected_at + timedelta(days=3),
    )


async def register(service: UseCases, database: Database, household: uuid.UUID) -> None:
    """The registry's announcement, as the consumer applies it."""
    async with database.transaction():
        await service.accounts.remember_household(
            HouseholdRegistered(
                household_id=household,
                community_id="dongcheng-01",
                grid_id="grid-03",
                address="幸福路 12 号",
                members=[MemberV1(name="张伟", relation="head")],
                contact_email="zhang@example.cn",
                registered_at=NOW - timedelta(days=30),
            ),
        )


async def _count(database: Database, table: Table) -> int:
    async with database.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(table)) or 0)


async def test_a_redelivered_failed_inspection_makes_one_entry(
    service: UseCases, database: Database
) -> None:
    subject = uuid.uuid4()
    await register(service, database, subject)
    event = failed(subject, Severity.GENERAL)

    async with database.transaction():
        first = await service.posting.record_failed_inspection(event, "evt-1")
    async with database.transaction():
        second = await service.posting.record_failed_inspection(event, "evt-1")

    assert first is not None
    assert second is None
    assert await _count(database, tables.entries) == 1
    # The registry's account, one score change, and the grade change it caused (AA -> A);
    # nothing for the redelivery.
    assert await _types(database) == [
        "linli.credit.account.opened.v1",
        "linli.credit.score.changed.v1",
        "linli.credit.grade.changed.v1",
    ]
    account = await service.reads.account(subject)
    assert account.score == DEFAULT_POLICY.base_score + first.points == 980
    assert account.grade == "A"
    assert [e.id for e in await service.reads.entries(subject)] == [first.id]


async def test_a_redelivered_failed_inspection_is_turned_away_by_the_lock_and_writes_nothing(
    service: UseCases, database: Database
) -> None:
    subject = uuid.uuid4()
    await register(service, database, subject)
    first = failed(subject, Severity.GENERAL)
    async with database.transaction():
        assert await service.posting.record_failed_inspection(first, "evt-1")
    statements: list[str] = []

    def count(conn: Connection, cursor: object, statement: str, *args: object) -> None:
        statements.append(" ".join(statement.split()[:2]))

    # The redelivery names another community: it moves nothing either.
    redelivered = first.model_copy(update={"community_id": "xicheng-02"})
    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with database.transaction():
            again = await service.posting.record_failed_inspection(redelivered, "evt-1")
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)

    assert again is None
    assert statements == ["SELECT accounts.subject_id,"]
    assert await _count(database, tables.entries) == 1
    assert (await service.reads.account(subject)).community_id == "dongcheng-01"


async def test_a_score_change_is_announced_with_its_explanation(
    service: UseCases, database: Database
) -> None:
    subject = uuid.uuid4()
    await register(service, database, subject)
    event = failed(subject, Severity.SERIOUS, hours_ago=5)

    with event_context("corr-credit-1", causation_id="evt-7"):
        async with database.transaction() as connection:
            entry = await service.posting.record_failed_inspection(event, "evt-7")
    assert entry is not None

    async with database.connect() as connection:
        [_, row, grade_row] = (
            await connection.execute(
                select(tables.outbox)
                .where(tables.outbox.c.topic == "linli.credit.v1")
                .order_by(tables.outbox.c.seq)
            )
        ).all()
    assert grade_row.event_type == "linli.credit.grade.changed.v1"
    assert row.event_type == "linli.credit.score.changed.v1"
    assert row.topic == "linli.credit.v1"
    assert row.partition_key == str(subject)
    envelope = Envelope.from_json(row.payload)
    assert envelope.source == "/linli/credit"
    assert envelope.correlation_id == "corr-credit-1"
    assert envelope.causation_id == "evt-7"
    changed = envelope.parse(CATALOGUE)
    assert isinstance(changed, ScoreChanged)
    assert changed.subject_id == subject
    assert changed.subject_kind is CreditSubjectKind.HOUSEHOLD
    assert changed.entry_id == entry.id
    assert changed.reason_code == "inspection.failed"
    assert changed.points == -50
    assert (changed.score_before, changed.score_after) == (1000, 950)
    assert (changed.grade_before, changed.grade_after) == ("AA", "A")
    assert changed.policy_version == DEFAULT_POLICY.version
    assert changed.source_event_id == "evt-7"
    assert changed.occurred_at == event.inspected_at


async def test_the_score_is_explained_by_its_entries(
    service: UseCases, database: Database, clock: FixedClock
) -> None:
    subject = uuid.uuid4()
    await register(service, database, subject)
    severities = [Severity.SERIOUS, Severity.LIGHT, Severity.GENERAL, Severity.SERIOUS]
    for i, severity in enumerate(severities):
        clock.set(NOW + timedelta(minutes=i))
        async with database.transaction():
            await service.posting.record_failed_inspection(failed(subject, severity), f"e{i}")

    account = await service.reads.account(subject)
    entries = await service.reads.entries(subject)
    assert [e.source_event_id for e in entries] == ["e0", "e1", "e2", "e3"]
    # The policy caps inspection penalties at 100 points a month: the last one is cut to 25.
    assert [e.points for e in entries] == [-50, -5, -20, -25]
    assert entries[-1].cause["capped_from"] == -50
    assert account.score == 1000 - 50 - 5 - 20 - 25 == 900
    assert account.grade == "A"
    assert score_of(entries, DEFAULT_POLICY) == account.score
    types = await _types(database)
    assert types.count("linli.credit.score.changed.v1") == len(severities)
    assert types.count("linli.credit.grade.changed.v1") == 1  # AA -> A at the first


async def test_opening_an_account_twice_keeps_one(
    service: UseCases, database: Database, clock: FixedClock
) -> None:
    subject = uuid.uuid4()
    # The use cases' shared path, as the posting use case opens an account outside the registry.
    scoring = Scoring(Outbox(tables.outbox, SOURCE), clock, PolicyBook((DEFAULT_POLICY,)))
    async with database.transaction() as connection:
        opened = await scoring.open_account(connection, subject, CreditSubjectKind.HOUSEHOLD)
    await service.posting.record_failed_inspection(failed(subject), "evt-1")
    async with database.transaction() as connection:
        again = await scoring.open_account(connection, subject, CreditSubjectKind.HOUSEHOLD)

    assert opened.score == 1000
    assert again.score == 980  # the existing account, not a fresh one
    assert await _count(database, tables.accounts) == 1
    # Opening an account outside the registry announces nothing: the events are the failure's
    # score and grade change.
    assert await _types(database) == [
        "linli.credit.score.changed.v1",
        "linli.credit.grade.changed.v1",
    ]


async def test_a_rolled_back_transaction_leaves_no_trace(
    service: UseCases, database: Database
) -> None:
    subject = uuid.uuid4()
    await register(service, database, subject)

    class HandlerCrashed(Exception):
        pass

    with pytest.raises(HandlerCrashed):
        async with database.transaction():
            await service.posting.record_failed_inspection(failed(subject), "evt-1")
            raise HandlerCrashed

    assert await _count(database, tables.entries) == 0
    assert (await service.reads.account(subject)).score == 1000
    assert await _types(database) == ["linli.credit.account.opened.v1"]
    # The redelivery then applies it.
    async with database.transaction():
        assert await service.posting.record_failed_inspection(failed(subject), "evt-1")
    assert (await service.reads.account(subject)).score == 980


async def test_a_failed_inspection_of_a_subject_the_registry_never_announced_opens_no_account(
    service: UseCases, database: Database
) -> None:
    stranger = uuid.uuid4()
    with pytest.raises(UnknownSubject) as refused:
        async with database.transaction():
            await service.posting.record_failed_inspection(failed(stranger), "evt-1")
    assert refused.value.subject == stranger
    assert await _count(database, tables.accounts) == 0
    assert await _count(database, tables.entries) == 0
    assert await _count(database, tables.outbox) == 0
    with pytest.raises(NotFound):
        await service.reads.account(stranger)

    # Once the registration has arrived, the same event (retried, or replayed) applies.
    await register(service, database, stranger)
    async with database.transaction():
        assert await service.posting.record_failed_inspection(failed(stranger), "evt-1")
    assert (await service.reads.account(stranger)).score == 980


async def test_unknown_subjects_are_not_found(service: UseCases) -> None:
    with pytest.raises(NotFound):
        await service.reads.account(uuid.uuid4())
    with pytest.raises(NotFound):
        await service.reads.entries(uuid.uuid4())


async def test_the_repository_reads_back_what_it_wrote(
    service: UseCases, database: Database
) -> None:
    subject = uuid.uuid4()
    await register(service, database, subject)
    async with database.transaction() as connection:
        entry = await service.posting.record_failed_inspection(
            failed(subject, Severity.LIGHT), "evt-1"
        )
    async with database.connect() as connection:
        [stored] = await LedgerRepository(connection).entries_of(subject)
        assert await LedgerRepository(connection).has_entry_for("evt-1")
        assert not await LedgerRepository(connection).has_entry_for("evt-2")
    assert stored == entry


def _drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, tables.metadata))


async def test_migrations_create_exactly_the_tables_the_code_uses(database: Database) -> None:
    async with database.connect() as connection:
        assert await connection.run_sync(_drift) == []


async def test_an_inspection_dated_at_the_start_of_the_calendar_is_a_malformed_event(
    service: UseCases, database: Database
) -> None:
    """Schema-valid dates near year 1 leave the calendar the ledger computes periods in (the
    local month's start is before year 1 in UTC): the event is malformed (dead-lettered), not a
    handler fault, and nothing is recorded."""
    subject = uuid.uuid4()
    await register(service, database, subject)
    at = datetime(1, 1, 1, 0, 0, tzinfo=UTC)
    event = failed(subject).model_copy(update={"inspected_at": at, "comply_by": at})
    with pytest.raises(MalformedEvent, match="dates beyond"):
        await service.posting.record_failed_inspection(event, "evt-9999")
    assert await _count(database, tables.entries) == 0
    assert (await service.reads.account(subject)).score == DEFAULT_POLICY.base_score


async def test_a_failed_inspection_is_posted_with_its_events_in_one_outbox_insert(
    service: UseCases, database: Database
) -> None:
    subject = uuid.uuid4()
    await register(service, database, subject)
    statements: list[str] = []

    def count(conn: Connection, cursor: object, statement: str, *args: object) -> None:
        words = statement.split()
        statements.append(" ".join(words[:3] if words[0] == "INSERT" else words[:2]))

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with database.transaction():
            entry = await service.posting.record_failed_inspection(
                failed(subject, Severity.GENERAL), "evt-1"
            )
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)

    assert entry is not None
    # The account (locked) and whether the event made its entry already, the month's cap,
    # expiries to settle; the entry, the account; then the score and grade changes together,
    # as the transaction commits.
    assert statements == [
        "SELECT accounts.subject_id,",
        "SELECT sum(entries.points)",
        "SELECT entries.id,",
        "INSERT INTO entries",
        "UPDATE accounts",
        "INSERT INTO outbox",
    ]
    assert await _types(database) == [
        "linli.credit.account.opened.v1",
        "linli.credit.score.changed.v1",
        "linli.credit.grade.changed.v1",
    ]
