"""Channels, preferences and policy against real peers on 127.0.0.1 and a real PostgreSQL.

SMTP with STARTTLS and AUTH (aiosmtpd), an HTTP SMS gateway that can refuse on demand, the
in-app inbox; fallback from SMS to e-mail, consent, quiet hours and digests with a fake clock,
de-duplication, grid-worker escalations, every notice type rendered in both locales.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from linli_notify.adapters import tables
from linli_notify.adapters.templates import TemplateRenderer
from linli_notify.domain.delivery import Preferences
from linli_notify.domain.notice import (
    Channel,
    NoticeStatus,
    NoticeType,
    QuietHours,
    grid_worker_id,
)
from linli_shared.clock import FixedClock
from linli_shared.contracts import (
    CATALOGUE,
    AppealDecided,
    AppealReceived,
    CommendationAwarded,
    GradeChanged,
    GreenChannelGranted,
    GreenChannelLost,
    HouseholdConsentChanged,
    HouseholdContactChanged,
    HouseholdDeregistered,
    InspectionEscalated,
    NoticeDelivered,
    NoticeFailed,
    OrganisationRegistered,
    RectificationOverdue,
    RectificationVerified,
    ScoreChanged,
)
from linli_shared.contracts.base import EventData
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.contracts.inspections import FailedFindingV1
from linli_shared.contracts.registry import ConsentV1, ContactV1
from linli_shared.db import Database
from linli_shared.pagination import PageRequest
from services.notify.tests.notify_peers import SecureSmtpSink, SmsGateway
from services.notify.tests.notify_support import (
    EMAIL,
    FIRST_PAGE,
    NOW,
    apply,
    drain,
    failed,
    household,
    make,
    published,
)
from tests.support.infra import free_port
from tests.support.smtp import SmtpSink

ZONE_OFFSET = timedelta(hours=8)  # Asia/Shanghai
PHONE = "13800138000"
SMS_USER, SMS_PASSWORD = "linli", "gateway-secret"


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A Shanghai wall time in March 2026, as an aware UTC datetime."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC) - ZONE_OFFSET


@pytest.fixture
def gateway() -> Iterator[SmsGateway]:
    peer = SmsGateway(SMS_USER, SMS_PASSWORD)
    peer.start()
    yield peer
    peer.stop()


def sms_settings(gateway: SmsGateway) -> dict[str, Any]:
    """A city's provider: its own field names, a signature, basic auth, an answer code."""
    return {
        "sms_gateway_url": f"{gateway.url}/v2/send",
        "sms_username": SMS_USER,
        "sms_password": SMS_PASSWORD,
        "sms_payload": {
            "mobile": "{to}",
            "content": "{text}",
            "sign": "邻里",
            "extend": {"ref": "{notice_id}"},
        },
        "sms_success_field": "code",
        "sms_success_values": ["OK"],
    }


async def next_attempt_at(database: Database, notice_id: uuid.UUID) -> datetime:
    async with database.connect() as connection:
        value = await connection.scalar(
            select(tables.notices.c.next_attempt_at).where(tables.notices.c.id == notice_id)
        )
    assert isinstance(value, datetime)
    return value


# --- e-mail over SMTP with STARTTLS and AUTH ------------------------------------------------------


async def test_email_goes_over_starttls_with_auth(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    secure = SecureSmtpSink(free_port(), tmp_path, "notify@city", "s3cret")
    secure.start()
    try:
        service = make(
            database,
            clock,
            secure.port,
            smtp_starttls=True,
            smtp_username="notify@city",
            smtp_password="s3cret",
            smtp_cert_bundle=str(secure.cert_path),
        )
        subject = uuid.uuid4()
        await apply(service, database, household(subject))
        await apply(service, database, failed(subject))
        assert await service.dispatcher.deliver_next() is True
        [mail] = secure.mails
    finally:
        secure.stop()
    assert mail.login == "notify@city"
    assert mail.recipients == [EMAIL]
    assert str(mail.message["Subject"]) == "【邻里】整改通知"
    [notice] = (await service.reads.notices_for(subject, PageRequest(limit=10))).items
    assert (notice.status, notice.channel) == (NoticeStatus.DELIVERED, "email")


async def test_a_wrong_smtp_password_is_a_logged_failed_attempt(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    secure = SecureSmtpSink(free_port(), tmp_path, "notify@city", "s3cret")
    secure.start()
    try:
        service = make(
            database,
            clock,
            secure.port,
            smtp_starttls=True,
            smtp_username="notify@city",
            smtp_password="wrong",
            smtp_cert_bundle=str(secure.cert_path),
        )
        subject = uuid.uuid4()
        await apply(service, database, household(subject))
        await apply(service, database, failed(subject))
        assert await service.dispatcher.deliver_next() is True
    finally:
        secure.stop()
    assert secure.mails == []
    [pending] = (await service.reads.notices_for(subject, PageRequest(limit=10))).items
    notice, [delivery] = await service.reads.notice(pending.id)
    assert (notice.status, notice.attempts) == (NoticeStatus.PENDING, 1)
    assert (delivery.channel, delivery.status) == ("email", "failed")
    assert delivery.response is not None and "535" in delivery.response


# --- the crash window: sent, but the delivery record never committed ------------------------------


class Crash(Exception):
    """The worker died between the send and the commit of its delivery record."""


def crash_before_the_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next delivery record fails once, so its transaction rolls back after the send."""
    from linli_notify.adapters.repository import NoticeRepository

    real = NoticeRepository.record_attempts
    crashed: list[bool] = []

    async def record_attempts(self: NoticeRepository, *args: Any, **kwargs: Any) -> None:
        if not crashed:
            crashed.append(True)
            raise Crash
        await real(self, *args, **kwargs)

    monkeypatch.setattr(NoticeRepository, "record_attempts", record_attempts)


async def test_an_e_mail_sent_again_after_a_crash_carries_the_same_message_id(
    database: Database, clock: FixedClock, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = make(database, clock, smtp.port, message_id_domain="notify.city.example")
    subject = uuid.uuid4()
    await apply(service, database, household(subject))
    await apply(service, database, failed(subject))
    crash_before_the_commit(monkeypatch)

    with pytest.raises(Crash):
        await service.dispatcher.deliver_next()
    assert await service.dispatcher.deliver_next() is True  # at least once: the notice goes again

    first, second = smtp.mails_to(EMAIL)
    [notice] = (await service.reads.notices_for(subject, PageRequest(limit=10))).items
    assert first.message["Message-ID"] == f"<{notice.id}.email@notify.city.example>"
    assert second.message["Message-ID"] == first.message["Message-ID"]
    _, deliveries = await service.reads.notice(notice.id)
    assert [(d.channel, d.status) for d in deliveries] == [("email", "delivered")]


async def test_an_sms_sent_again_after_a_crash_carries_the_same_idempotency_key(
    database: Database,
    clock: FixedClock,
    smtp: SmtpSink,
    gateway: SmsGateway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = make(database, clock, smtp.port, **sms_settings(gateway))
    subject = uuid.uuid4()
    await apply(service, database, household(subject, phone=PHONE, channels=["sms"]))
    await apply(service, database, failed(subject))
    crash_before_the_commit(monkeypatch)

    with pytest.raises(Crash):
        await service.dispatcher.deliver_next()
    assert await service.dispatcher.deliver_next() is True

    first, second = gateway.received
    [notice] = (await service.reads.notices_for(subject, PageRequest(limit=10))).items
    assert first.headers["idempotency-key"] == f"{notice.id}.sms"
    assert second.headers["idempotency-key"] == first.headers["idempotency-key"]


# --- SMS through the HTTP gateway, fallback, consent ----------------------------------------------


async def test_sms_goes_through_the_gateway_with_the_citys_payload(
    database: Database, clock: FixedClock, smtp: SmtpSink, gateway: SmsGateway
) -> None:
    service = make(database, clock, smtp.port, **sms_settings(gateway))
    subject = uuid.uuid4()
    await apply(service, database, household(subject, phone=PHONE, channels=["sms", "email"]))
    await apply(service, database, failed(subject), event_id="evt-sms", correlation_id="corr-sms")

    assert await service.dispatcher.deliver_next() is True

    [request] = gateway.received
    assert request.path == "/v2/send"
    body = request.json()
    assert body["mobile"] == PHONE
    assert body["sign"] == "邻里"
    assert "检查问题需在" in body["content"] and "前整改" in body["content"]
    [notice] = (await service.reads.notices_for(subject, PageRequest(limit=10))).items
    assert body["extend"] == {"ref": str(notice.id)}
    assert smtp.mails == []
    notice, [delivery] = await service.reads.notice(notice.id)
    assert (notice.status, notice.channel) == (NoticeStatus.DELIVERED, "sms")
    assert (delivery.channel, delivery.address, delivery.status) == ("sms", PHONE, "delivered")
    assert delivery.response is not None and '"OK"' in delivery.response
    [envelope] = await published(database)
    event = envelope.parse(CATALOGUE)
    assert isinstance(event, NoticeDelivered)
    assert (event.channel, event.source_event_id) == ("sms", "evt-sms")
    assert envelope.correlation_id == "corr-sms"


async def test_when_sms_fails_the_notice_falls_back_to_email_at_once(
    database: Database, clock: FixedClock, smtp: SmtpSink, gateway: SmsGateway
) -> None:
    gateway.fail(503)
    service = make(database, clock, smtp.port, **sms_settings(gateway))
    subject = uuid.uuid4()
    await apply(service, database, household(subject, phone=PHONE, channels=["sms", "email"]))
    await apply(service, database, failed(subject))
    [notice] = (await service.reads.notices_for(subject, PageRequest(limit=10))).items

    assert await service.dispatcher.deliver_next() is True  # SMS refused
    assert await next_attempt_at(database, notice.id) == NOW  # no back-off before the fallback
    assert await service.dispatcher.deliver_next() is True  # e-mail

    [mail] = smtp.mails_to(EMAIL)
    assert mail.subject == "【邻里】整改通知"
    notice, deliveries = await service.reads.notice(notice.id)
    assert [(d.channel, d.status) for d in deliveries] == [
        ("sms", "failed"),
        ("email", "delivered"),
    ]
    assert deliveries[0].response is not None and "503" in deliveries[0].response
    assert (notice.status, notice.channel, notice.attempts) == (NoticeStatus.DELIVERED, "email", 2)
    [envelope] = await published(database)
    event = envelope.parse(CATALOGUE)
    assert isinstance(event, NoticeDelivered) and event.channel == "email"


async def test_a_provider_code_that_is_not_ok_is_a_failure(
    database: Database, clock: FixedClock, smtp: SmtpSink, gateway: SmsGateway
) -> None:
    gateway.answer_code("LIMIT")
    service = make(database, clock, smtp.port, **sms_settings(gateway))
    subject = uuid.uuid4()
    await apply(service, database, household(subject, phone=PHONE, channels=["sms", "email"]))
    await apply(service, database, failed(subject))

    assert await drain(service) == 2
    [notice] = (await service.reads.notices_for(subject, PageRequest(limit=10))).items
    _, deliveries = await service.reads.notice(notice.id)
    assert [(d.channel, d.status) for d in deliveries] == [
        ("sms", "failed"),
        ("email", "delivered"),
    ]
    assert deliveries[0].response is not None and "LIMIT" in deliveries[0].response
    assert len(gateway.refused) == 1


async def test_when_every_channel_fails_it_backs_off_rounds_then_gives_up(
    database: Database, clock: FixedClock, gateway: SmsGateway
) -> None:
    stopped = SmtpSink(free_port())  # nobody listens there
    gateway.fail(500)
    service = make(database, clock, stopped.port, delivery_max_attempts=2, **sms_settings(gateway))
    subject = uuid.uuid4()
    await apply(service, database, household(subject, phone=PHONE, channels=["sms", "email"]))
    await apply(service, database, failed(subject), event_id="evt-x")
    [notice] = (await service.reads.notices_for(subject, PageRequest(limit=10))).items

    assert await drain(service) == 2  # sms, then e-mail: round 1 over
    assert await next_attempt_at(database, notice.id) == NOW + timedelta(seconds=5)
    clock.set(NOW + timedelta(seconds=5))
    assert await drain(service) == 2  # round 2: sms, e-mail; gives up
    notice, deliveries = await service.reads.notice(notice.id)
    assert notice.status is NoticeStatus.FAILED
    assert [d.channel for d in deliveries] == ["sms", "email", "sms", "email"]
    [envelope] = await published(database)
    event = envelope.parse(CATALOGUE)
    assert isinstance(event, NoticeFailed)
    assert (event.channel, event.source_event_id) == ("email", "evt-x")
    clock.set(NOW + timedelta(days=1))
    assert await service.dispatcher.deliver_next() is False


async def test_sms_without_a_gateway_falls_back_to_email(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = make(database, clock, smtp.port)  # this city has no SMS provider configured
    subject = uuid.uuid4()
    await apply(service, database, household(subject, phone=PHONE, channels=["sms", "email"]))
    await apply(service, database, failed(subject))
    assert await drain(service) == 2
    assert len(smtp.mails_to(EMAIL)) == 1


async def test_only_consented_channels_are_used(
    database: Database, clock: FixedClock, smtp: SmtpSink, gateway: SmsGateway
) -> None:
    service = make(database, clock, smtp.port, **sms_settings(gateway))
    subject = uuid.uuid4()
    await apply(
        service,
        database,
        household(subject, phone=PHONE, channels=["sms", "email"], consent=["email"]),
    )
    await apply(service, database, failed(subject))
    assert await drain(service) == 1
    assert gateway.received == [] and gateway.refused == []
    assert len(smtp.mails_to(EMAIL)) == 1

    # Consent widened later: the next notice goes by SMS first.
    await apply(
        service,
        database,
        HouseholdConsentChanged(
            household_id=subject, consent=ConsentV1(notice_channels=["sms", "email"]), version=2
        ),
    )
    await apply(service, database, failed(subject))
    assert await drain(service) == 1
    assert len(gateway.received) == 1


async def test_contact_changes_reach_the_new_address(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = make(database, clock, smtp.port)
    subject = uuid.uuid4()
    await apply(service, database, household(subject))
    await apply(
        service,
        database,
        HouseholdContactChanged(
            household_id=subject,
            contact=ContactV1(email="new@example.com", locale="en"),
            changed_at=NOW,
            version=2,
        ),
    )
    await apply(service, database, failed(subject))
    assert await drain(service) == 1
    [mail] = smtp.mails
    assert mail.recipients == ["new@example.com"]
    assert mail.subject == "[Linli] Rectification notice"  # the household now reads English
    assert "Dear 张三 (幸福路 1 号 2 栋 301)," in mail.body


async def test_a_deregistered_household_gets_no_notice_and_the_case_hears_so(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = make(database, clock, smtp.port)
    subject = uuid.uuid4()
    await apply(service, database, household(subject))
    await apply(
        service,
        database,
        HouseholdDeregistered(
            household_id=subject, reason="moved away", deregistered_at=NOW, version=2
        ),
    )
    await apply(service, database, failed(subject), event_id="evt-gone")
    assert await drain(service) == 1
    assert smtp.mails == []
    [envelope] = await published(database)
    event = envelope.parse(CATALOGUE)
    assert isinstance(event, NoticeFailed)
    assert event.source_event_id == "evt-gone"
    assert "not active" in event.reason


# --- the in-app inbox ---------------------------------------------------------------------------


async def test_the_inbox_channel_delivers_into_the_app_with_read_state(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = make(database, clock, smtp.port)
    subject = uuid.uuid4()
    await apply(service, database, household(subject, channels=["inbox"]))
    await apply(service, database, failed(subject))
    assert await drain(service) == 1
    assert smtp.mails == []

    page = await service.inbox.inbox(subject, FIRST_PAGE, unread=True)
    [item] = page.items.items
    assert (page.unread, page.items.total) == (1, 1)
    assert item.notice.channel == "inbox"
    assert item.subject == "【邻里】整改通知"
    assert item.body is not None and "stairwells clear（一般）：楼道堆物" in item.body

    clock.set(NOW + timedelta(minutes=3))
    read = await service.inbox.mark_read(item.notice.id, True)
    assert read.notice.read_at == NOW + timedelta(minutes=3)
    page = await service.inbox.inbox(subject, FIRST_PAGE, unread=True)
    assert (page.items.items, page.items.total, page.unread) == ([], 0, 0)
    await service.inbox.mark_read(item.notice.id, False)
    assert (await service.inbox.inbox(subject, FIRST_PAGE, unread=True)).unread == 1


async def test_an_organisation_is_a_recipient_too(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = make(database, clock, smtp.port)
    organisation = uuid.uuid4()
    await apply(
        service,
        database,
        OrganisationRegistered(
            organisation_id=organisation,
            kind="property_manager",
            name="幸福物业",
            community_id="c-xingfu",
            compound_ids=["cp-1", "cp-2"],
            contact=ContactV1(email="pm@example.com"),
            registered_at=NOW,
        ),
    )
    event = failed(organisation).model_copy(update={"subject_kind": SubjectKind.ORGANISATION})
    await apply(service, database, event)
    assert await drain(service) == 1
    [mail] = smtp.mails_to("pm@example.com")
    assert mail.body.startswith("幸福物业：")


# --- quiet hours and digests, on a fake clock ---------------------------------------------------


async def test_quiet_hours_hold_a_notice_until_morning(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = make(database, clock, smtp.port)
    subject = uuid.uuid4()
    await apply(service, database, household(subject))
    await service.preferences.set_preferences(
        subject, Preferences(None, QuietHours(time(22, 0), time(7, 0)), digest=False)
    )
    clock.set(local(2, 23, 30))
    await apply(service, database, failed(subject))
    [notice] = (await service.reads.notices_for(subject, PageRequest(limit=10))).items

    assert await service.dispatcher.deliver_next() is True  # held, not sent
    assert smtp.mails == []
    assert await next_attempt_at(database, notice.id) == local(3, 7, 0)
    assert await service.dispatcher.deliver_next() is False
    clock.set(local(3, 6, 59))
    assert await service.dispatcher.deliver_next() is False

    clock.set(local(3, 7, 0))
    assert await service.dispatcher.deliver_next() is True
    assert len(smtp.mails_to(EMAIL)) == 1
    notice, deliveries = await service.reads.notice(notice.id)
    assert notice.delivered_at == local(3, 7, 0)
    assert notice.attempts == 1  # holding is not an attempt
    assert len(deliveries) == 1


async def test_a_critical_notice_bypasses_quiet_hours(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = make(database, clock, smtp.port)
    subject = uuid.uuid4()
    await apply(service, database, household(subject))
    await service.preferences.set_preferences(
        subject, Preferences(None, QuietHours(time(22, 0), time(7, 0)), digest=False)
    )
    clock.set(local(2, 23, 30))
    await apply(service, database, failed(subject, severity=Severity.SERIOUS))
    assert await service.dispatcher.deliver_next() is True
    assert len(smtp.mails_to(EMAIL)) == 1
    [notice] = (await service.reads.notices_for(subject, PageRequest(limit=10))).items
    assert notice.critical is True
    assert notice.delivered_at == local(2, 23, 30)


async def test_a_property_manager_on_digest_gets_one_daily_message(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = make(database, clock, smtp.port, digest_time=time(8, 0))
    manager = uuid.uuid4()
    await apply(
        service,
        database,
        OrganisationRegistered(
            organisation_id=manager,
            kind="property_manager",
            name="幸福物业",
            community_id="c-xingfu",
            compound_ids=[f"cp-{i}" for i in range(12)],
            contact=ContactV1(email="pm@example.com"),
            registered_at=NOW,
        ),
    )
    await service.preferences.set_preferences(manager, Preferences(None, None, digest=True))
    as_org = {"subject_kind": SubjectKind.ORGANISATION}
    for hour, correlation in ((10, "corr-a"), (15, "corr-b")):
        clock.set(local(2, hour))
        await apply(
            service,
            database,
            failed(manager).model_copy(update=as_org),
            correlation_id=correlation,
        )
        assert await drain(service) == 1  # held for the digest
    assert smtp.mails == []

    # A serious finding does not wait for tomorrow's digest.
    clock.set(local(2, 16))
    await apply(
        service,
        database,
        failed(manager, severity=Severity.SERIOUS).model_copy(update=as_org),
        correlation_id="corr-urgent",
    )
    assert await drain(service) == 1
    [urgent] = smtp.mails_to("pm@example.com")
    assert urgent.subject == "【邻里】整改通知"

    clock.set(local(3, 7, 59))
    assert await service.dispatcher.deliver_next() is False
    clock.set(local(3, 8, 0))
    assert await drain(service) == 1  # one message for both held notices
    _, digest = smtp.mails_to("pm@example.com")
    assert digest.subject == "【邻里】每日通知汇总（2 条）"
    assert digest.body.count("【邻里】整改通知") == 2
    notices = (await service.reads.notices_for(manager, PageRequest(limit=10))).items
    assert {n.status for n in notices} == {NoticeStatus.DELIVERED}
    delivered = [e for e in await published(database) if e.type.endswith("delivered.v1")]
    assert sorted(e.correlation_id for e in delivered) == ["corr-a", "corr-b", "corr-urgent"]


async def test_leaving_the_digest_releases_what_was_held(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = make(database, clock, smtp.port)
    subject = uuid.uuid4()
    await apply(service, database, household(subject))
    await service.preferences.set_preferences(subject, Preferences(None, None, digest=True))
    await apply(service, database, failed(subject))
    assert await drain(service) == 1  # held until tomorrow 08:00
    assert smtp.mails == []

    clock.set(NOW + timedelta(hours=1))
    await service.preferences.set_preferences(subject, Preferences(None, None, digest=False))
    assert await drain(service) == 1
    [mail] = smtp.mails_to(EMAIL)
    assert mail.subject == "【邻里】整改通知"  # an ordinary notice, not a digest of one


# --- escalation to the grid worker ----------------------------------------------------------------


async def test_an_overdue_rectification_reaches_the_grid_worker_once(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = make(database, clock, smtp.port)
    subject, rectification = uuid.uuid4(), uuid.uuid4()
    await apply(service, database, household(subject))
    common: dict[str, Any] = {
        "rectification_id": rectification,
        "inspection_id": uuid.uuid4(),
        "subject_id": subject,
        "subject_kind": SubjectKind.HOUSEHOLD,
        "severity": Severity.GENERAL,
        "comply_by": NOW,
        "grid_id": "g-07",
    }
    await apply(service, database, RectificationOverdue(**common, overdue_since=NOW))
    await apply(
        service,
        database,
        InspectionEscalated(**common, level="grid_worker", escalated_at=NOW),
    )
    assert await service.dispatcher.deliver_next() is False  # no grid contact yet: it waits

    await service.grid_contacts.set_grid_contact(
        "g-07",
        name="网格员王五",
        email="wang@grid.example",
        phone=None,
        channels=[Channel.EMAIL],
        locale="zh-CN",
    )
    assert await drain(service) == 1
    [mail] = smtp.mails_to("wang@grid.example")
    assert mail.subject == "【邻里】逾期未整改上报"
    assert "网格员王五：" in mail.body
    assert "张三（幸福路 1 号 2 栋 301）" in mail.body
    assert str(rectification) in mail.body
    [notice] = (
        await service.reads.notices_for(grid_worker_id("g-07"), PageRequest(limit=10))
    ).items
    assert notice.notice_type is NoticeType.OVERDUE_ESCALATION
    assert notice.critical is True


# --- every notice type, from its real event, in both locales --------------------------------------


def every_event(subject: uuid.UUID) -> list[EventData]:
    rectification = uuid.uuid4()
    about = {"subject_id": subject, "subject_kind": SubjectKind.HOUSEHOLD}
    case = {
        **about,
        "rectification_id": rectification,
        "inspection_id": uuid.uuid4(),
        "severity": Severity.LIGHT,
        "comply_by": NOW,
        "grid_id": "g-07",
    }
    return [
        failed(subject),
        RectificationVerified(**case, reinspection_id=uuid.uuid4(), verified_at=NOW, on_time=True),
        RectificationOverdue(**case, overdue_since=NOW),
        ScoreChanged(
            **about,
            entry_id=uuid.uuid4(),
            reason_code="inspection.failed",
            points=-20,
            score_before=1000,
            score_after=980,
            grade_before="AA",
            grade_after="A",
            policy_version="2026.1",
            source_event_id="e",
            occurred_at=NOW,
        ),
        GradeChanged(**about, grade_before="AA", grade_after="A", score=980, evaluated_at=NOW),
        GreenChannelGranted(**about, grade="AAA", valid_until=date(2026, 12, 31)),
        GreenChannelLost(**about, grade="B"),
        AppealReceived(
            **about,
            appeal_id=uuid.uuid4(),
            entry_id=uuid.uuid4(),
            filed_by="张三",
            decide_by=date(2026, 3, 20),
        ),
        AppealDecided(
            **about,
            appeal_id=uuid.uuid4(),
            entry_id=uuid.uuid4(),
            outcome="upheld",
            reason="检查记录有误",
            decided_by="officer-li",
        ),
        CommendationAwarded(
            **about, award="five_good_family", year=2026, entry_id=uuid.uuid4(), points=50
        ),
    ]


async def test_every_notice_type_renders_from_its_event_in_every_locale(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = make(database, clock, smtp.port)
    subject = uuid.uuid4()
    await apply(service, database, household(subject))
    await service.grid_contacts.set_grid_contact(
        "g-07",
        name="王五",
        email="wang@grid.example",
        phone=None,
        channels=[Channel.EMAIL],
        locale="zh-CN",
    )
    for event in every_event(subject):
        await apply(service, database, event)

    notices = (await service.reads.notices_for(subject, PageRequest(limit=50))).items
    notices += (
        await service.reads.notices_for(grid_worker_id("g-07"), PageRequest(limit=50))
    ).items
    assert {n.notice_type for n in notices} == set(NoticeType)
    renderer = TemplateRenderer("Asia/Shanghai")
    async with database.connect() as connection:
        from linli_notify.adapters.repository import NoticeRepository

        recipient = await NoticeRepository(connection).recipient(subject)
    assert recipient is not None
    for notice in notices:
        for locale in ("zh-CN", "en"):
            rendered = renderer.render(notice.notice_type, recipient, notice.variables, locale)
            assert rendered.subject and rendered.body.strip() and rendered.sms
            assert "None" not in rendered.body, (notice.notice_type, locale, rendered.body)
            assert "T00:00:00" not in rendered.body  # no raw ISO timestamps

    await drain(service)
    assert len(smtp.mails) == len(notices)
    subjects = {mail.subject for mail in smtp.mails}
    assert "【邻里】五好文明家庭表彰通知" in subjects
    assert "【邻里】绿色通道开通通知" in subjects


async def test_notices_name_items_checklists_and_reasons_in_the_recipients_words_not_codes(
    database: Database, clock: FixedClock, smtp: SmtpSink
) -> None:
    service = make(database, clock, smtp.port)
    chinese, english = uuid.uuid4(), uuid.uuid4()
    await apply(service, database, household(chinese))
    await apply(service, database, household(english, email="li@example.com", locale="en"))
    for subject in (chinese, english):
        titled = failed(subject).model_copy(
            update={
                "failed_findings": [
                    FailedFindingV1(
                        item="no-exposed-garbage",
                        severity=Severity.GENERAL,
                        note="门口垃圾外露",
                        title={"zh-CN": "无暴露垃圾", "en": "no exposed garbage"},
                    ),
                    # An event from before findings carried their text: a seed code is named.
                    FailedFindingV1(item="stairwells-clear", severity=Severity.LIGHT),
                    # A city's own item, worded only in Chinese: that text, in either locale.
                    FailedFindingV1(
                        item="bikes-parked",
                        severity=Severity.LIGHT,
                        title={"zh-CN": "车辆有序停放"},
                    ),
                ],
                "checklist_title": {"zh-CN": "环境卫生检查", "en": "Sanitation"},
            }
        )
        await apply(service, database, titled)
        await apply(
            service,
            database,
            ScoreChanged(
                subject_id=subject,
                subject_kind=SubjectKind.HOUSEHOLD,
                entry_id=uuid.uuid4(),
                points=10,
                score_before=980,
                score_after=990,
                grade_before="A",
                grade_after="A",
                reason_code="rectification.refund",
                occurred_at=NOW,
                policy_version="2026.3",
                source_event_id="evt-refund",
            ),
        )
    await drain(service)

    assert len(smtp.mails) == 4  # two notices each, in their own language
    zh = {mail.subject: mail.body for mail in smtp.mails_to(EMAIL)}
    rectification = zh["【邻里】整改通知"]
    assert "对您的环境卫生检查未通过" in rectification
    assert "- 无暴露垃圾（一般）：门口垃圾外露" in rectification
    assert "- 楼道无杂物（轻微）" in rectification
    assert "- 车辆有序停放（轻微）" in rectification
    assert "原因：按期整改" in zh["【邻里】诚信积分变动通知"]
    en = {mail.subject: mail.body for mail in smtp.mails_to("li@example.com")}
    rectification_en = en["[Linli] Rectification notice"]
    assert "(Sanitation) did not pass" in rectification_en
    assert "- no exposed garbage (general): 门口垃圾外露" in rectification_en
    assert "- stairwells free of clutter (light)" in rectification_en
    assert "- 车辆有序停放 (light)" in rectification_en
    bodies = [*zh.values(), *en.values()]
    for code in ("no-exposed-garbage", "stairwells-clear", "bikes-parked", "rectification."):
        assert not any(code in body for body in bodies), code
