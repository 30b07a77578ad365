"""Inspections' consumer group: who answers for each target, from the registry's events."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_inspections.domain.inspection import Target
from linli_inspections.service.inspections import InspectionsService
from linli_shared.contracts import (
    HouseholdDeregistered,
    HouseholdMoved,
    HouseholdRegistered,
    OrganisationChanged,
    OrganisationRegistered,
)
from linli_shared.contracts.base import EventData
from linli_shared.contracts.common import SubjectKind
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.processing import Subscription

GROUP = "linli-inspections"


def subscriptions(service: InspectionsService) -> list[Subscription]:
    async def on_household_registered(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, HouseholdRegistered)
        await service.remember_target(connection, _household(event))

    async def on_household_moved(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, HouseholdMoved)
        await service.remember_target(connection, _household(event))

    async def on_household_deregistered(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, HouseholdDeregistered)
        await service.forget_household(connection, event.household_id)

    async def on_organisation(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, OrganisationRegistered | OrganisationChanged)
        await service.remember_organisation(
            connection,
            organisation_id=event.organisation_id,
            community_id=event.community_id,
            grid_id=event.grid_id,
            compound_ids=event.compound_ids,
            frontage_segments=event.frontage_segments,
        )

    return [
        Subscription(
            GROUP,
            {
                HouseholdRegistered: on_household_registered,
                HouseholdMoved: on_household_moved,
                HouseholdDeregistered: on_household_deregistered,
                OrganisationRegistered: on_organisation,
                OrganisationChanged: on_organisation,
            },
        )
    ]


def _household(event: HouseholdRegistered | HouseholdMoved) -> Target:
    return Target(
        kind="household",
        id=str(event.household_id),
        subject_id=event.household_id,
        subject_kind=SubjectKind.HOUSEHOLD,
        grid_id=event.grid_id,
        community_id=event.community_id,
    )
