"""Helpers of the notify tests: use cases built as app.py builds them, events applied as the
consumer applies them, the dispatcher run until it rests, and the events a test sends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from linli_notify.adapters import tables
from linli_notify.app import build_use_cases
from linli_notify.consumers import subscriptions
from linli_notify.service import UseCases
from linli_notify.settings import NotifySettings
from linli_shared.clock import Clock
from linli_shared.context import event_context
from linli_shared.contracts import HouseholdRegistered, InspectionFailed
from linli_shared.contracts.base import EventData
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.contracts.inspections import FailedFindingV1
from linli_shared.contracts.registry import ConsentV1, ContactV1, MemberV1
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope
from linli_shared.pagination import PageRequest
from tests.support.infra import free_port

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Monday: no quiet hours
EMAIL = "zhang@example.com"
FIRST_PAGE = PageRequest(limit=10)


def settings_for(database: Database, smtp_port: int | None = None, **extra: Any) -> NotifySettings:
    return NotifySettings(
        database_url=database.url,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port or free_port(),
        **extra,
    )


def make(database: Database, clock: Clock, smtp_port: int | None = None, **extra: Any) -> UseCases:
    """The use cases as app.py builds them, on a pinned clock and the test's SMTP server."""
    return build_use_cases(database, settings_for(database, smtp_port, **extra), clock)


async def apply(
    use_cases: UseCases,
    database: Database,
    event: EventData,
    event_id: str | None = None,
    correlation_id: str = "corr-1",
) -> str:
    """What the consumer does with one event: its route's use case, in one transaction.
    Returns the event id (the source of what it made)."""
    [subscription] = subscriptions(use_cases)
    handler = subscription.handler_for(event.event_type)
    if handler is None:
        raise LookupError(f"notify does not consume {event.event_type}")
    envelope = Envelope(
        id=event_id or f"evt-{uuid.uuid4()}",
        type=event.event_type,
        source="/test",
        subject=event.partition_key(),
        time=NOW,
        data=event.model_dump(mode="json"),
        correlation_id=correlation_id,
    )
    with event_context(correlation_id, causation_id=envelope.id):
        async with database.transaction() as connection:
            await handler(connection, event, envelope)
    return envelope.id


async def drain(use_cases: UseCases, limit: int = 20) -> int:
    """Run the dispatcher until nothing is due (bounded)."""
    for done in range(limit):
        if not await use_cases.dispatcher.deliver_next():
            return done
    raise AssertionError("the dispatcher did not come to rest")


async def published(database: Database) -> list[Envelope]:
    async with database.connect() as connection:
        rows = (await connection.execute(select(tables.outbox).order_by(tables.outbox.c.seq))).all()
    return [Envelope.from_json(row.payload) for row in rows]


def household(
    household_id: uuid.UUID,
    *,
    email: str = EMAIL,
    phone: str | None = None,
    channels: list[Any] | None = None,
    consent: list[Any] | None = None,
    locale: str = "zh-CN",
    grid_id: str = "g-07",
) -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id=household_id,
        community_id="c-xingfu",
        grid_id=grid_id,
        address="幸福路 1 号 2 栋 301",
        members=[MemberV1(name="张三", relation="head")],
        contact_email=email,
        registered_at=NOW - timedelta(days=30),
        contact=ContactV1(
            email=email, phone=phone, preferred_channels=channels or ["email"], locale=locale
        ),
        consent=ConsentV1(notice_channels=consent) if consent is not None else None,
    )


def failed(
    subject: uuid.UUID,
    *,
    severity: Severity = Severity.GENERAL,
    inspection: uuid.UUID | None = None,
    grid_id: str | None = "g-07",
) -> InspectionFailed:
    return InspectionFailed(
        inspection_id=inspection or uuid.uuid4(),
        subject_id=subject,
        subject_kind=SubjectKind.HOUSEHOLD,
        checklist="sanitation",
        inspected_at=NOW - timedelta(hours=1),
        severity=severity,
        failed_findings=[
            FailedFindingV1(item="stairwells clear", severity=severity, note="楼道堆物")
        ],
        comply_by=NOW + timedelta(days=3),
        grid_id=grid_id,
    )
