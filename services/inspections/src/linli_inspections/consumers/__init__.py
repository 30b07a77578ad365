"""Inspections' consumer group: the registry's read model (who answers for each target, the
grids and compounds, each community's time zone), from the registry's events."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_inspections.domain.inspection import Target
from linli_inspections.service.inspections import InspectionsService
from linli_shared.contracts import (
    CommunityChanged,
    CommunityCreated,
    CompoundChanged,
    CompoundCreated,
    GridChanged,
    GridCreated,
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

    async def on_community(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, CommunityCreated | CommunityChanged)
        await service.remember_community(
            connection, event.community_id, name=event.name, time_zone=event.time_zone
        )

    async def on_grid(connection: AsyncConnection, event: EventData, envelope: Envelope) -> None:
        assert isinstance(event, GridCreated | GridChanged)
        await service.remember_grid(
            connection,
            event.grid_id,
            community_id=event.community_id,
            name=event.name,
            worker_id=event.worker_id,
        )

    async def on_compound(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, CompoundCreated | CompoundChanged)
        await service.remember_compound(
            connection,
            event.compound_id,
            community_id=event.community_id,
            grid_id=event.grid_id,
            name=event.name,
            property_manager_id=event.property_manager_id,
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
                CommunityCreated: on_community,
                CommunityChanged: on_community,
                GridCreated: on_grid,
                GridChanged: on_grid,
                CompoundCreated: on_compound,
                CompoundChanged: on_compound,
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
