"""The registry's announcements (and notify's deliveries), applied the way inspections' consumer
applies them: through the subscription's handler, in a transaction, as the worker does. An
inspection names a subject or a target the registry announced (an unknown one is a 422)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from linli_inspections import app
from linli_inspections.consumers import subscriptions
from linli_inspections.domain.inspection import Inspection
from linli_inspections.domain.policy import InspectionPolicy
from linli_inspections.service import UseCases
from linli_shared.clock import SystemClock
from linli_shared.context import EventContext
from linli_shared.contracts import (
    CATALOGUE,
    HouseholdRegistered,
    NoticeDelivered,
    NoticeFailed,
    OrganisationRegistered,
)
from linli_shared.contracts.base import EventData
from linli_shared.contracts.registry import ContactV1, MemberV1
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope

ANNOUNCED_AT = datetime(2026, 1, 1, tzinfo=UTC)


async def consume(use_cases: UseCases, database: Database, event: EventData) -> None:
    """As the worker does: the event parsed from its envelope, the subscription's handler, in a
    transaction."""
    [subscription] = subscriptions(use_cases)
    handler = subscription.handler_for(event.event_type)
    assert handler is not None, f"inspections does not consume {event.event_type}"
    producer = event.topic.split(".")[1]  # linli.<service>.v1
    envelope = Envelope.wrap(event, source=f"/linli/{producer}", context=EventContext("announce"))
    async with database.transaction() as connection:
        await handler(connection, envelope.parse(CATALOGUE), envelope)


async def announce(database: Database | str, *events: EventData) -> None:
    """Apply the registry's events to the read model of the database (or of its URL)."""
    owned = isinstance(database, str)
    db = Database(database) if isinstance(database, str) else database
    use_cases = app.build_use_cases(db, SystemClock(), InspectionPolicy())
    try:
        for event in events:
            await consume(use_cases, db, event)
    finally:
        if owned:
            await db.dispose()


def household(
    household_id: uuid.UUID, *, grid_id: str = "g-01", community_id: str = "c-01"
) -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id=household_id,
        community_id=community_id,
        grid_id=grid_id,
        address="幸福路 1 号",
        members=[MemberV1(name="张三", relation="head")],
        contact_email="zhang@example.cn",
        registered_at=ANNOUNCED_AT,
    )


def organisation(
    organisation_id: uuid.UUID,
    *,
    grid_id: str | None = "g-01",
    community_id: str = "xingfu",
    compound_ids: Sequence[str] = (),
    frontage_segments: Sequence[str] = (),
) -> OrganisationRegistered:
    """A property manager of the compounds, or a shop answering for the frontage segments."""
    return OrganisationRegistered(
        organisation_id=organisation_id,
        kind="property_manager" if compound_ids else "shop",
        name="幸福物业" if compound_ids else "幸福小卖部",
        community_id=community_id,
        grid_id=grid_id,
        compound_ids=list(compound_ids),
        frontage_segments=list(frontage_segments),
        contact=ContactV1(email="desk@example.cn"),
        registered_at=ANNOUNCED_AT,
    )


async def announce_household(
    database: Database | str,
    household_id: uuid.UUID,
    *,
    grid_id: str = "g-01",
    community_id: str = "c-01",
) -> None:
    await announce(database, household(household_id, grid_id=grid_id, community_id=community_id))


def delivered(
    inspection: Inspection,
    at: datetime,
    *,
    notice_type: str = "rectification",
    recipient_id: uuid.UUID | None = None,
    channel: str = "email",
) -> NoticeDelivered:
    """notify's proof that the inspection's rectification notice reached its responsible party."""
    return NoticeDelivered(
        notice_id=uuid.uuid4(),
        recipient_id=recipient_id or inspection.subject_id,
        notice_type=notice_type,
        channel=channel,
        source_event_id=str(uuid.uuid4()),
        delivered_at=at,
        inspection_id=inspection.id,
    )


def undeliverable(inspection: Inspection, at: datetime) -> NoticeFailed:
    """notify gave up on the inspection's rectification notice (no channel took it)."""
    return NoticeFailed(
        notice_id=uuid.uuid4(),
        recipient_id=inspection.subject_id,
        notice_type="rectification",
        channel="email",
        source_event_id=str(uuid.uuid4()),
        reason="refused by the mail server",
        failed_at=at,
        inspection_id=inspection.id,
    )
