"""Credit's consumer group: accounts (households, organisations, residents) from the registry,
entries from inspections."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_credit.service.ledger import CreditService
from linli_shared.contracts import (
    HouseholdConsentChanged,
    HouseholdDeregistered,
    HouseholdMembersChanged,
    HouseholdMoved,
    HouseholdRegistered,
    InspectionFailed,
    OrganisationChanged,
    OrganisationRegistered,
    RectificationOverdue,
    RectificationVerified,
)
from linli_shared.contracts.base import EventData
from linli_shared.messaging.envelope import Envelope, MalformedEvent
from linli_shared.messaging.processing import Subscription

GROUP = "linli-credit"


@contextlib.contextmanager
def _dates_in_range(event: EventData) -> Iterator[None]:
    """An entry's validity and caps are computed from the event's dates; dates near year 1 or
    9999 (schema-valid) leave the calendar: such an event is malformed, not a handler fault."""
    try:
        yield
    except OverflowError as error:
        raise MalformedEvent(
            f"{event.event_type}: dates beyond what the ledger computes with ({error})"
        ) from error


def subscriptions(service: CreditService) -> list[Subscription]:
    async def on_household_registered(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, HouseholdRegistered)
        await service.household_registered(connection, event)

    async def on_household_moved(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, HouseholdMoved)
        await service.household_moved(connection, event)

    async def on_consent_changed(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, HouseholdConsentChanged)
        await service.consent_changed(connection, event)

    async def on_members_changed(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, HouseholdMembersChanged)
        await service.members_changed(connection, event)

    async def on_household_deregistered(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, HouseholdDeregistered)
        await service.deregistered(connection, event)

    async def on_organisation_registered(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, OrganisationRegistered | OrganisationChanged)
        await service.organisation_registered(connection, event)

    async def on_inspection_failed(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, InspectionFailed)
        with _dates_in_range(event):
            await service.record_failed_inspection(connection, event, envelope.id)

    async def on_rectification(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, RectificationVerified | RectificationOverdue)
        with _dates_in_range(event):
            await service.record_rectification(connection, event, envelope.id)

    return [
        Subscription(
            GROUP,
            {
                HouseholdRegistered: on_household_registered,
                HouseholdMoved: on_household_moved,
                HouseholdConsentChanged: on_consent_changed,
                HouseholdMembersChanged: on_members_changed,
                HouseholdDeregistered: on_household_deregistered,
                OrganisationRegistered: on_organisation_registered,
                OrganisationChanged: on_organisation_registered,
                InspectionFailed: on_inspection_failed,
                RectificationVerified: on_rectification,
                RectificationOverdue: on_rectification,
            },
        )
    ]
