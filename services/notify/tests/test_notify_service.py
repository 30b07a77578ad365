"""Notify use cases against a real PostgreSQL database and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Table, event, func, select
from sqlalchemy.engine import Connection

from linli_notify.adapters import tables
from linli_notify.adapters.repository import Added, NoticeRepository
from linli_notify.domain.notice import Notice, NoticeStatus, NoticeType
from linli_notify.service import UseCases
from linli_notify.service.dispatch import NOTICES_CHANNEL, DispatchWakeups
from linli_shared.clock import FixedClock
from linli_shared.contracts import (
    CATALOGUE,
    HouseholdRegistered,
    InspectionFailed,
    NoticeDelivered,
    NoticeFailed,
    ScoreChanged,
)
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.contracts.credit import CreditSubjectKind
from linli_shared.contracts.inspections import FailedFindingV1
from linli_shared.contracts.registry import MemberV1
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.processing import UnknownSubject
from linli_shared.messaging.wakeup import Wakeup
from services.notify.tests.notify_support import EMAIL, FIRST_PAGE, NOW, apply, make, published
from tests.support.infra import free_port
from tests.support.smtp import SmtpSink


def build(database: Database, clock: FixedClock, smtp_port: int, max_attempts: int = 5) -> UseCases:
    """As app.py builds them, with a pinned clock and the test's SMTP server."""
    return make(database, clock, smtp_port, delivery_max_attempts=max_attempts)


def registered(
    household_id: uuid.UUID, *, name: str = "张三", email: str = EMAIL
) -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id=household_id,
        community_id="c-xingfu",
        grid_id="g-07",
        address="幸福路 1 号 2 栋 301",
        members=[MemberV1(name="李四", relation="spouse"), MemberV1(name=name, relation="head")],
        contact_email=email,
        registered_at=NOW - timedelta(days=30),
    )


def failed(subject: uuid.UUID) -> InspectionFailed:
    inspected_at = datetime(2026, 3, 1, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    return InspectionFailed(
        inspection_id=uuid.uuid4(),
        subject_id=subject,
        subject_kind=SubjectKind.HOUSEHOLD,
        checklist="sanitation",
        inspected_at=inspected_at,
        severity=Severity.GENERAL,
        failed_findings=[
            FailedFindingV1(item="stairwells clear", severity=Severity.GENERAL, note="楼道堆物")
        ],
        comply_by=inspected_at + timedelta(days=3),
    )


async def remember(service: UseCases, database: Database, event: HouseholdRegistered) -> None:
    await service.recipients.remember_household(event)


async def rectify(
    service: UseCases,
    database: Database,
    event: InspectionFailed,
    source_event_id: str,
    correlation_id: str = "corr-1",
) -> None:
    await apply(service, database, event, source_event_id, correlation_id)


async def _count(database: Database, table: Table) -> int:
    async with database.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(table)) or 0)


async def _outbox(database: Database) -> list[tuple[str, str, str, Envelope]]:
    async with database.connect() as connection:
        rows = (await connection.execute(select(tables.outbox).order_by(tables.outbox.c.seq))).all()
    return [(r.event_type, r.topic, r.partition_key, Envelope.from_json(r.payload)) for r in rows]


async def _next_attempt_at(database: Database, notice_id: uuid.UUID) -> datetime:
    async with database.connect() as connection:
        value = await connection.scalar(
            select(tables.notices.c.next_attempt_at).where(tables.notices.c.id == notice_id)
        )
    assert isinstance(value, datetime)
    return value


async def test_a_redelivered_event_makes_one_notice(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = build(database, clock, smtp.port)
    household = uuid.uuid4()
    await remember(service, database, registered(household))
    event = failed(household)

    await rectify(service, database, event, "evt-1")
    await rectify(service, database, event, "evt-1")

    [notice] = (await service.reads.notices_for(household, FIRST_PAGE)).items
    assert notice.notice_type is NoticeType.RECTIFICATION
    assert notice.source_event_id == "evt-1"
    assert notice.correlation_id == "corr-1"
    assert notice.status is NoticeStatus.PENDING
    assert notice.attempts == 0
    assert notice.created_at == NOW
    assert await _count(database, tables.notices) == 1

    # The same inspection announced again by another event is the same notice (de-duplication)…
    await rectify(service, database, event, "evt-2")
    assert await _count(database, tables.notices) == 1
    # …another inspection is another notice.
    await rectify(service, database, failed(household), "evt-3")
    assert await _count(database, tables.notices) == 2


async def test_the_head_of_household_is_the_recipient_and_stays_current(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = build(database, clock, smtp.port)
    household = uuid.uuid4()

    await remember(service, database, registered(household))
    await remember(service, database, registered(household, name="王五", email="wang@example.com"))

    async with database.connect() as connection:
        recipient = await NoticeRepository(connection).recipient(household)
    assert recipient is not None
    assert (recipient.name, recipient.email) == ("王五", "wang@example.com")
    assert recipient.address == "幸福路 1 号 2 栋 301"
    assert recipient.locale == "zh-CN"
    assert await _count(database, tables.recipients) == 1


async def test_deliver_next_sends_the_mail_and_proves_delivery(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = build(database, clock, smtp.port)
    household = uuid.uuid4()
    await remember(service, database, registered(household))
    announced = failed(household)
    await rectify(service, database, announced, "evt-1", correlation_id="corr-story")
    [pending] = (await service.reads.notices_for(household, FIRST_PAGE)).items
    clock.set(NOW + timedelta(seconds=30))

    assert await service.dispatcher.deliver_next() is True

    [mail] = smtp.mails
    assert mail.recipients == [EMAIL]
    assert mail.subject == "【邻里】整改通知"
    assert mail.message["X-Linli-Notice-Id"] == str(pending.id)
    assert "张三（幸福路 1 号 2 栋 301）" in mail.body
    assert "2026年03月01日 对您的环境卫生检查未通过" in mail.body
    assert "stairwells clear（一般）：楼道堆物" in mail.body
    assert "请于 2026年03月04日 09:30 前完成整改" in mail.body

    notice, deliveries = await service.reads.notice(pending.id)
    assert notice.status is NoticeStatus.DELIVERED
    assert notice.attempts == 1
    assert notice.delivered_at == NOW + timedelta(seconds=30)
    [delivery] = deliveries
    assert (delivery.channel, delivery.address, delivery.status) == ("email", EMAIL, "delivered")
    assert delivery.response
    assert delivery.attempted_at == NOW + timedelta(seconds=30)

    [(event_type, topic, key, envelope)] = await _outbox(database)
    assert event_type == "linli.notify.notice.delivered.v1"
    assert topic == "linli.notify.v1"
    assert key == str(household)
    assert envelope.source == "/linli/notify"
    assert envelope.correlation_id == "corr-story"  # the story continues
    assert envelope.causation_id == "evt-1"
    event = envelope.parse(CATALOGUE)
    assert isinstance(event, NoticeDelivered)
    assert event.notice_id == pending.id
    assert event.recipient_id == household
    assert event.notice_type == "rectification"
    assert event.channel == "email"
    assert event.source_event_id == "evt-1"
    assert event.delivered_at == NOW + timedelta(seconds=30)
    # The inspection it told of: its case's comply-by period starts now (inspections).
    assert event.inspection_id == announced.inspection_id

    assert await service.dispatcher.deliver_next() is False  # nothing left
    assert len(smtp.mails) == 1


async def test_a_score_change_notice_is_delivered(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = build(database, clock, smtp.port)
    household = uuid.uuid4()
    await remember(service, database, registered(household))
    change = ScoreChanged(
        subject_id=household,
        subject_kind=SubjectKind.HOUSEHOLD,
        entry_id=uuid.uuid4(),
        reason_code="inspection.failed",
        points=-20,
        score_before=1000,
        score_after=980,
        grade_before="AA",
        grade_after="A",
        policy_version="2026.1",
        source_event_id="evt-0",
        occurred_at=NOW,
    )
    await apply(service, database, change, "evt-score-1")
    await apply(service, database, change, "evt-score-1")

    assert await service.dispatcher.deliver_next() is True
    assert await service.dispatcher.deliver_next() is False
    [mail] = smtp.mails_to(EMAIL)
    assert mail.subject == "【邻里】诚信积分变动通知"
    assert "您的诚信积分由 1000 分变为 980 分（-20），当前诚信等级为 A。" in mail.body


async def test_a_residents_own_ledger_makes_no_notice(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    """Residents are ledger subjects for personal rules but not recipients: their household's
    own entry is what the household hears about."""
    service = build(database, clock, smtp.port)
    resident = uuid.uuid4()
    change = ScoreChanged(
        subject_id=resident,
        subject_kind=CreditSubjectKind.RESIDENT,
        entry_id=uuid.uuid4(),
        reason_code="volunteer.hours",
        points=5,
        score_before=1000,
        score_after=1005,
        grade_before="AA",
        grade_after="AA",
        policy_version="2026.2",
        source_event_id="evt-0",
        occurred_at=NOW,
    )
    await apply(service, database, change, "evt-resident-1")

    assert await _count(database, tables.notices) == 0
    assert await service.dispatcher.deliver_next() is False


async def test_no_notice_is_made_for_a_recipient_the_registry_has_not_announced(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = build(database, clock, smtp.port)
    household = uuid.uuid4()
    # Before the registry's event (or for a subject it never had): refused, nothing written; the
    # consumer retries a bounded time, then dead-letters it as unknown-subject.
    with pytest.raises(UnknownSubject):
        await rectify(service, database, failed(household), "evt-1")
    assert await _count(database, tables.notices) == 0
    assert await _count(database, tables.recipients) == 0
    assert await service.dispatcher.deliver_next() is False

    await remember(service, database, registered(household))
    await rectify(service, database, failed(household), "evt-1")  # the retry, or a replay
    assert await service.dispatcher.deliver_next() is True
    assert len(smtp.mails_to(EMAIL)) == 1


async def test_a_recipient_announced_while_its_notice_is_being_made_loses_no_notice(
    pg_database: Database, clock: FixedClock, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry's lane commits the recipient between the notice's insert (which found none)
    and the check after it: the event is refused, so the consumer retries, and the retry makes
    the notice. Acknowledged instead, the notice would never be made. (PostgreSQL: SQLite, the
    embedded mode's, has one writer at a time.)"""
    database = pg_database
    service = build(database, clock, smtp.port)
    household = uuid.uuid4()
    adding = NoticeRepository.add_unless_made

    async def announced_meanwhile(
        repository: NoticeRepository, notice: Notice, *, announced: bool
    ) -> Added:
        added = await adding(repository, notice, announced=announced)
        # Another lane, its own transaction: a fresh context holds no transaction to join.
        await asyncio.create_task(
            remember(service, database, registered(household)), context=contextvars.Context()
        )
        return added

    inspection = failed(household)
    monkeypatch.setattr(NoticeRepository, "add_unless_made", announced_meanwhile)
    with pytest.raises(UnknownSubject):
        await rectify(service, database, inspection, "evt-1")
    assert await _count(database, tables.recipients) == 1
    assert await _count(database, tables.notices) == 0

    monkeypatch.setattr(NoticeRepository, "add_unless_made", adding)
    await rectify(service, database, inspection, "evt-1")  # the consumer's retry
    assert await service.dispatcher.deliver_next() is True
    assert len(smtp.mails_to(EMAIL)) == 1


async def test_the_oldest_notice_goes_first(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = build(database, clock, smtp.port)
    first, second = uuid.uuid4(), uuid.uuid4()
    await remember(service, database, registered(first, email="first@example.com"))
    await remember(service, database, registered(second, email="second@example.com"))
    clock.set(NOW + timedelta(seconds=1))
    await rectify(service, database, failed(second), "evt-b")
    clock.set(NOW)
    await rectify(service, database, failed(first), "evt-a")  # created earlier
    clock.set(NOW + timedelta(minutes=1))

    assert await service.dispatcher.deliver_next() is True  # both are due: one batch, in order
    assert [m.recipients for m in smtp.mails] == [["first@example.com"], ["second@example.com"]]
    assert await service.dispatcher.deliver_next() is False


@contextmanager
def statements_run(database: Database) -> Iterator[list[str]]:
    """The first word of each statement run while the block runs."""
    statements: list[str] = []

    def count(conn: Connection, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement.split()[0])

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)


async def test_a_busy_moments_notices_go_out_in_one_transaction_of_four_statements(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = build(database, clock, smtp.port)
    households = [uuid.uuid4() for _ in range(10)]
    for index, household in enumerate(households):
        await remember(service, database, registered(household, email=f"h{index}@example.com"))
        await rectify(service, database, failed(household), f"evt-{index}", f"corr-{index}")
    clock.set(NOW + timedelta(minutes=1))

    with statements_run(database) as statements:
        assert await service.dispatcher.deliver_next() is True

    assert len(smtp.mails) == 10
    # Lock the due notices with their recipients, then the log, the notices and the verdict
    # events as one executemany each: not a statement per notice.
    assert statements == ["SELECT", "INSERT", "UPDATE", "INSERT"]
    verdicts = [e for e in await published(database) if e.type.endswith("notice.delivered.v1")]
    assert sorted(e.correlation_id for e in verdicts) == sorted(f"corr-{i}" for i in range(10))
    assert await service.dispatcher.deliver_next() is False


async def test_a_lane_that_took_every_due_notice_waits_for_the_next_wake_up(
    pg_database: Database, clock: FixedClock, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three notices made one at a time go out at once although the lane polls every minute
    (each wakes it), in a pass each: not a second, empty one after each."""
    service = build(pg_database, clock, smtp.port)
    passes = 0
    deliver_due = service.dispatcher.deliver_due

    async def counted() -> int:
        nonlocal passes
        passes += 1
        return await deliver_due()

    monkeypatch.setattr(service.dispatcher, "deliver_due", counted)
    slow = {"poll_interval": 60.0, "listen_poll_interval": 60.0}
    wakeups = DispatchWakeups(
        notices=Wakeup(pg_database.url, NOTICES_CHANNEL, **slow),
        webhooks=Wakeup(None, "webhooks", **slow),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(service.dispatcher.run(stop, wakeups, lanes=1))
    try:
        await _until(lambda: wakeups.notices.listening)
        await asyncio.sleep(0.5)  # the pass on listening is over: the lane now waits
        before = passes
        for index in range(3):
            household = uuid.uuid4()
            await remember(service, pg_database, registered(household, email=f"h{index}@x.cn"))
            await rectify(service, pg_database, failed(household), f"evt-{index}")
            await _until(lambda: len(smtp.mails) == index + 1)  # noqa: B023
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
    assert passes - before == 3


async def _until(condition: Callable[[], bool], within: float = 15.0) -> None:
    for _ in range(int(within / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not so within {within} s")


async def test_a_notice_is_made_in_one_statement_and_reads_endpoints_only_when_one_is_enabled(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = build(database, clock, smtp.port)
    household = uuid.uuid4()
    await remember(service, database, registered(household))
    inspection = failed(household)

    # The recipient's check and whether any partner endpoint is enabled come with the insert.
    with statements_run(database) as statements:
        await rectify(service, database, inspection, "evt-1")
    assert statements == ["INSERT"]
    # Announced again: nothing made; only then is the notice looked for (made before: not
    # refused as a recipient unknown).
    with statements_run(database) as statements:
        await rectify(service, database, inspection, "evt-2")
    assert statements == ["INSERT", "SELECT"]

    await service.webhooks.add_webhook(
        name="城管局",
        url="http://127.0.0.1:9/hooks",
        notice_types=[NoticeType.RECTIFICATION],
        department=None,
    )
    await service.webhooks.add_webhook(
        name="疾控中心",
        url="http://127.0.0.1:9/other",
        notice_types=[NoticeType.REINSPECTION_RESULT],
        department=None,
    )
    # With endpoints: read once, and the subscribed ones' messages queued in one statement.
    with statements_run(database) as statements:
        await rectify(service, database, failed(household), "evt-3")
    assert statements == ["INSERT", "SELECT", "INSERT"]
    assert await _count(database, tables.webhook_messages) == 1
    assert await _count(database, tables.notices) == 2


async def test_without_a_mail_server_it_backs_off_then_gives_up(
    database: Database, clock: FixedClock
) -> None:
    stopped = SmtpSink(free_port())
    stopped.start()
    stopped.stop()
    service = build(database, clock, stopped.port, max_attempts=3)
    household = uuid.uuid4()
    await remember(service, database, registered(household))
    await rectify(service, database, failed(household), "evt-1")
    [notice] = (await service.reads.notices_for(household, FIRST_PAGE)).items

    # Attempt 1 fails: still pending, retried 5 s later, not before.
    assert await service.dispatcher.deliver_next() is True
    notice, deliveries = await service.reads.notice(notice.id)
    assert (notice.status, notice.attempts) == (NoticeStatus.PENDING, 1)
    assert [(d.status, d.address) for d in deliveries] == [("failed", EMAIL)]
    assert deliveries[0].response  # the reason is logged
    assert await _next_attempt_at(database, notice.id) == NOW + timedelta(seconds=5)
    assert await service.dispatcher.deliver_next() is False  # not due yet

    # Attempt 2 fails: backs off further.
    clock.set(NOW + timedelta(seconds=5))
    assert await service.dispatcher.deliver_next() is True
    notice, deliveries = await service.reads.notice(notice.id)
    assert (notice.status, notice.attempts) == (NoticeStatus.PENDING, 2)
    assert len(deliveries) == 2
    assert await _next_attempt_at(database, notice.id) == NOW + timedelta(seconds=15)
    assert await _outbox(database) == []  # no verdict yet

    # Attempt 3 = delivery_max_attempts: it gives up and says so.
    clock.set(NOW + timedelta(seconds=15))
    assert await service.dispatcher.deliver_next() is True
    notice, deliveries = await service.reads.notice(notice.id)
    assert (notice.status, notice.attempts) == (NoticeStatus.FAILED, 3)
    assert notice.delivered_at is None
    assert [d.status for d in deliveries] == ["failed", "failed", "failed"]

    [(event_type, topic, key, envelope)] = await _outbox(database)
    assert event_type == "linli.notify.notice.failed.v1"
    assert topic == "linli.notify.v1"
    assert key == str(household)
    event = envelope.parse(CATALOGUE)
    assert isinstance(event, NoticeFailed)
    assert event.notice_id == notice.id
    assert event.recipient_id == household
    assert event.channel == "email"
    assert event.source_event_id == "evt-1"
    assert event.reason
    assert event.failed_at == NOW + timedelta(seconds=15)
    assert event.inspection_id is not None

    clock.set(NOW + timedelta(days=1))
    assert await service.dispatcher.deliver_next() is False  # a failed notice is not retried


async def test_delivery_resumes_when_the_mail_server_is_back(
    database: Database, clock: FixedClock
) -> None:
    port = free_port()
    server = SmtpSink(port)
    server.start()
    server.stop()
    service = build(database, clock, port)
    household = uuid.uuid4()
    await remember(service, database, registered(household))
    await rectify(service, database, failed(household), "evt-1")

    assert await service.dispatcher.deliver_next() is True  # fails: nobody listening
    back = SmtpSink(port)
    back.start()
    try:
        clock.set(NOW + timedelta(seconds=5))
        assert await service.dispatcher.deliver_next() is True
        assert len(back.mails_to(EMAIL)) == 1
    finally:
        back.stop()

    [notice] = (await service.reads.notices_for(household, FIRST_PAGE)).items
    assert (notice.status, notice.attempts) == (NoticeStatus.DELIVERED, 2)
    assert [event_type for event_type, *_ in await _outbox(database)] == [
        "linli.notify.notice.delivered.v1"
    ]


def _drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, tables.metadata))


async def test_migrations_create_exactly_the_tables_the_code_uses(pg_database: Database) -> None:
    async with pg_database.connect() as connection:
        assert await connection.run_sync(_drift) == []
