"""Partner webhooks (Standard Webhooks) against a receiver on 127.0.0.1 that verifies signatures.

Retries follow the schedule on a fake clock; an endpoint that keeps failing is disabled; secret
rotation signs with both secrets until the previous one is retired. The clock stands near real
time because receivers reject timestamps more than five minutes off, as the spec asks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from linli_notify.domain.notice import NoticeType
from linli_notify.service import UseCases
from linli_shared.clock import FixedClock
from linli_shared.contracts import (
    HouseholdRegistered,
    InspectionEscalated,
    InspectionFailed,
)
from linli_shared.contracts.base import EventData
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.contracts.inspections import FailedFindingV1
from linli_shared.contracts.registry import MemberV1
from linli_shared.db import Database
from services.notify.tests.notify_peers import WebhookReceiver, recompute_signature
from services.notify.tests.notify_support import FIRST_PAGE, apply, make

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def clock() -> FixedClock:
    # The receiver checks a signature's timestamp against the real clock (Standard Webhooks allows
    # five minutes either way); the fake clock starts 200 s before the real now of each test, so
    # the schedule's steps up to 5 min 5 s stay within that window.
    global NOW
    NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=200)
    return FixedClock(NOW)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    peer = WebhookReceiver([])
    peer.start()
    yield peer
    peer.stop()


async def partner(
    service: UseCases, receiver: WebhookReceiver, *types: NoticeType, department: str | None
) -> uuid.UUID:
    endpoint = await service.webhooks.add_webhook(
        name="城管局",
        url=f"{receiver.url}/linli/hooks",
        notice_types=list(types),
        department=department,
    )
    assert endpoint.secrets[0].startswith("whsec_")
    receiver.trust(list(endpoint.secrets))
    return endpoint.id


def escalated(department: str = "urban-management") -> InspectionEscalated:
    return InspectionEscalated(
        rectification_id=uuid.uuid4(),
        inspection_id=uuid.uuid4(),
        subject_id=uuid.uuid4(),
        subject_kind=SubjectKind.ORGANISATION,
        severity=Severity.SERIOUS,
        comply_by=NOW - timedelta(days=1),
        grid_id="g-07",
        community_id="c-xingfu",
        level="department",
        department=department,
        escalated_at=NOW,
    )


async def handle(service: UseCases, database: Database, event: EventData, event_id: str) -> None:
    await apply(service, database, event, event_id, correlation_id="corr-partner")


async def test_an_escalation_reaches_the_department_signed_and_without_personal_data(
    database: Database, clock: FixedClock, receiver: WebhookReceiver
) -> None:
    service = make(database, clock)
    endpoint = await partner(
        service, receiver, NoticeType.OVERDUE_ESCALATION, department="urban-management"
    )
    event = escalated()
    await handle(service, database, event, "evt-esc")
    await handle(service, database, event, "evt-esc-again")  # the same escalation again
    await handle(service, database, escalated("health"), "evt-other")  # not this partner's

    assert await service.webhook_delivery.deliver_next_webhook() is True
    assert await service.webhook_delivery.deliver_next_webhook() is False

    [hook] = receiver.received
    assert hook.webhook_id.startswith("msg_")
    assert hook.timestamp == int(NOW.timestamp())
    assert len(hook.signatures) == 1
    assert hook.payload["type"] == "notice.overdue_escalation"
    data = hook.payload["data"]
    assert data["rectification_id"] == str(event.rectification_id)
    assert data["department"] == "urban-management"
    assert data["severity"] == "serious"
    assert not {"name", "address", "email", "phone", "subject_label"} & data.keys()
    assert receiver.bad_signatures == 0

    [(message, [attempt])] = (await service.webhooks.webhook_messages(endpoint, FIRST_PAGE)).items
    assert (message.status, message.attempts) == ("delivered", 1)
    assert (attempt.status, attempt.status_code) == ("delivered", 204)


async def test_a_failing_partner_is_retried_on_the_schedule_with_the_same_id(
    database: Database, clock: FixedClock, receiver: WebhookReceiver
) -> None:
    service = make(database, clock, webhook_retry_schedule_seconds=[5, 300, 1800])
    endpoint = await partner(service, receiver, NoticeType.RECTIFICATION, department=None)
    household = uuid.uuid4()
    await service.recipients.remember_household(
        HouseholdRegistered(
            household_id=household,
            community_id="c-xingfu",
            grid_id="g-07",
            address="幸福路 1 号",
            members=[MemberV1(name="张三", relation="head")],
            contact_email="zhang@example.com",
            registered_at=NOW - timedelta(days=30),
        ),
    )
    await handle(
        service,
        database,
        InspectionFailed(
            inspection_id=uuid.uuid4(),
            subject_id=household,
            subject_kind=SubjectKind.HOUSEHOLD,
            checklist="sanitation",
            inspected_at=NOW,
            severity=Severity.GENERAL,
            failed_findings=[
                FailedFindingV1(item="stairwells clear", severity=Severity.GENERAL, note="张三家")
            ],
            comply_by=NOW + timedelta(days=3),
        ),
        "evt-1",
    )
    receiver.fail(times=2, status=503)

    assert await service.webhook_delivery.deliver_next_webhook() is True  # attempt 1: 503
    assert await service.webhook_delivery.deliver_next_webhook() is False  # not due for 5 s
    clock.set(NOW + timedelta(seconds=5))
    assert await service.webhook_delivery.deliver_next_webhook() is True  # attempt 2: 503
    clock.set(NOW + timedelta(seconds=5 + 299))
    assert await service.webhook_delivery.deliver_next_webhook() is False  # 5 minutes, not before
    clock.set(NOW + timedelta(seconds=5 + 300))
    assert await service.webhook_delivery.deliver_next_webhook() is True  # attempt 3: accepted

    ids = {request.headers["webhook-id"] for request in receiver.attempts}
    assert len(ids) == 1  # one message id on every retry, so the partner can de-duplicate
    [hook] = receiver.received
    assert "note" not in hook.payload["data"]["findings"][0]  # free text may name people
    [(message, attempts)] = (await service.webhooks.webhook_messages(endpoint, FIRST_PAGE)).items
    assert [(a.status, a.status_code) for a in attempts] == [
        ("failed", 503),
        ("failed", 503),
        ("delivered", 204),
    ]
    assert message.status == "delivered"
    assert (await service.webhooks.webhook(endpoint)).consecutive_failures == 0


async def test_when_the_schedule_is_spent_the_message_fails(
    database: Database, clock: FixedClock, receiver: WebhookReceiver
) -> None:
    service = make(database, clock, webhook_retry_schedule_seconds=[5])
    endpoint = await partner(service, receiver, NoticeType.OVERDUE_ESCALATION, department=None)
    await handle(service, database, escalated(), "evt-1")
    receiver.fail()

    assert await service.webhook_delivery.deliver_next_webhook() is True
    clock.set(NOW + timedelta(seconds=5))
    assert await service.webhook_delivery.deliver_next_webhook() is True
    clock.set(NOW + timedelta(days=2))
    assert await service.webhook_delivery.deliver_next_webhook() is False
    [(message, attempts)] = (await service.webhooks.webhook_messages(endpoint, FIRST_PAGE)).items
    assert (message.status, len(attempts)) == ("failed", 2)


async def test_an_endpoint_that_keeps_failing_is_disabled_and_can_be_re_enabled(
    database: Database, clock: FixedClock, receiver: WebhookReceiver
) -> None:
    service = make(
        database,
        clock,
        webhook_retry_schedule_seconds=[1, 1, 1, 1, 1],
        webhook_disable_after_failures=3,
    )
    endpoint = await partner(service, receiver, NoticeType.OVERDUE_ESCALATION, department=None)
    await handle(service, database, escalated(), "evt-1")
    await handle(service, database, escalated(), "evt-2")
    receiver.fail(status=500)

    for second in range(3):
        clock.set(NOW + timedelta(seconds=second))
        assert await service.webhook_delivery.deliver_next_webhook() is True
    disabled = await service.webhooks.webhook(endpoint)
    assert disabled.enabled is False
    assert disabled.consecutive_failures == 3
    assert disabled.disabled_reason is not None and "500" in disabled.disabled_reason
    clock.set(NOW + timedelta(minutes=2))
    assert (
        await service.webhook_delivery.deliver_next_webhook() is False
    )  # a disabled endpoint gets nothing

    # A new escalation while disabled is not queued for it.
    await handle(service, database, escalated(), "evt-3")
    assert len((await service.webhooks.webhook_messages(endpoint, FIRST_PAGE)).items) == 2

    receiver.recover()
    enabled = await service.webhooks.update_webhook(endpoint, enabled=True)
    assert (enabled.enabled, enabled.consecutive_failures, enabled.disabled_reason) == (
        True,
        0,
        None,
    )
    assert await service.webhook_delivery.deliver_next_webhook() is True
    assert await service.webhook_delivery.deliver_next_webhook() is True
    assert await service.webhook_delivery.deliver_next_webhook() is False
    assert len(receiver.received) == 2


async def test_secret_rotation_signs_with_both_until_the_old_one_is_retired(
    database: Database, clock: FixedClock, receiver: WebhookReceiver
) -> None:
    service = make(database, clock)
    endpoint_id = await partner(service, receiver, NoticeType.OVERDUE_ESCALATION, department=None)
    original = receiver.secrets[0]

    rotated = await service.webhooks.rotate_webhook_secret(endpoint_id, keep_previous=True)
    new, previous = rotated.secrets
    assert previous == original and new.startswith("whsec_") and new != original

    # A partner that still knows only the old secret keeps verifying…
    receiver.trust([original])
    await handle(service, database, escalated(), "evt-1")
    assert await service.webhook_delivery.deliver_next_webhook() is True
    # …and one that switched to the new secret verifies too.
    receiver.trust([new])
    await handle(service, database, escalated(), "evt-2")
    assert await service.webhook_delivery.deliver_next_webhook() is True
    assert len(receiver.received) == 2 and receiver.bad_signatures == 0
    first = receiver.received[0]
    assert len(first.signatures) == 2
    assert recompute_signature(new, first.webhook_id, str(first.timestamp), first.raw) in (
        first.signatures
    )

    retired = await service.webhooks.retire_previous_secrets(endpoint_id)
    assert retired.secrets == (new,)
    receiver.trust([original])  # the old secret no longer verifies
    await handle(service, database, escalated(), "evt-3")
    assert await service.webhook_delivery.deliver_next_webhook() is True
    assert receiver.bad_signatures == 1
    assert len(receiver.received) == 2
