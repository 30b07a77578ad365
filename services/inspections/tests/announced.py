"""The registry's announcement of a household, applied the way inspections' consumer applies it:
an inspection names a subject the registry announced (an unknown one is a 422)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from linli_inspections.adapters import tables
from linli_inspections.app import SOURCE
from linli_inspections.consumers import subscriptions
from linli_inspections.service.inspections import InspectionsService
from linli_shared.clock import SystemClock
from linli_shared.context import EventContext
from linli_shared.contracts import HouseholdRegistered
from linli_shared.contracts.registry import MemberV1
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.outbox import Outbox


async def announce_household(
    database: Database | str,
    household: uuid.UUID,
    *,
    grid_id: str = "g-01",
    community_id: str = "c-01",
) -> None:
    owned = isinstance(database, str)
    db = Database(database) if isinstance(database, str) else database
    service = InspectionsService(db, Outbox(tables.outbox, SOURCE), SystemClock())
    event = HouseholdRegistered(
        household_id=household,
        community_id=community_id,
        grid_id=grid_id,
        address="幸福路 1 号",
        members=[MemberV1(name="张三", relation="head")],
        contact_email="zhang@example.cn",
        registered_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    [subscription] = subscriptions(service)
    handler = subscription.handler_for(event.event_type)
    assert handler is not None
    envelope = Envelope.wrap(event, source="/linli/registry", context=EventContext("announce"))
    try:
        async with db.transaction() as connection:
            await handler(connection, event, envelope)
    finally:
        if owned:
            await db.dispose()
