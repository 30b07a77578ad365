"""The registry's places as inspections keeps them: who answers for each target (a household for
itself, a compound's property manager, a frontage segment's shop), the grids and compounds, and
each community's time zone. Built from the registry's events (consumer group
`linli-inspections`), never from a call; each use case applies one event, in the consumer's
transaction with its inbox claim.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from linli_inspections.adapters.repository import PlaceReadModel, TargetRepository
from linli_inspections.domain.inspection import Target
from linli_inspections.service.lookups import TargetRef, resolve_target
from linli_shared.contracts import (
    CommunityChanged,
    CommunityCreated,
    CompoundChanged,
    CompoundCreated,
    GridChanged,
    GridCreated,
    HouseholdDeregistered,
    HouseholdMembersChanged,
    HouseholdMoved,
    HouseholdRegistered,
    OrganisationChanged,
    OrganisationRegistered,
)
from linli_shared.contracts.common import SubjectKind
from linli_shared.contracts.registry import MemberV1
from linli_shared.db import Database


@dataclass(frozen=True)
class PlacesUseCases:
    _database: Database

    async def remember_household(self, event: HouseholdRegistered) -> None:
        """A registered household answers for itself as a target; its residents reach it."""
        async with self._database.transaction():
            await self._remember_household_at(event)
            await self._remember_members(event.household_id, event.members, event.version)

    async def remember_members(self, event: HouseholdMembersChanged) -> None:
        """Who the household's residents are now (a resident signed in reaches its cases)."""
        await self._remember_members(event.household_id, event.members, event.version)

    async def _remember_members(
        self, household_id: uuid.UUID, members: list[MemberV1], version: int
    ) -> None:
        residents = [m.resident_id for m in members if m.resident_id is not None]
        async with self._database.transaction() as connection:
            await PlaceReadModel(connection).put_members(household_id, residents, version)

    async def household_of(self, resident_id: uuid.UUID) -> uuid.UUID | None:
        """The household the registry has this resident in now, as inspections knows it."""
        async with self._database.connect() as connection:
            return await PlaceReadModel(connection).household_of(resident_id)

    async def remember_household_move(self, event: HouseholdMoved) -> None:
        """A household that moved is inspected in its new grid and community."""
        await self._remember_household_at(event)

    async def _remember_household_at(self, event: HouseholdRegistered | HouseholdMoved) -> None:
        household = Target(
            kind="household",
            id=str(event.household_id),
            subject_id=event.household_id,
            subject_kind=SubjectKind.HOUSEHOLD,
            grid_id=event.grid_id,
            community_id=event.community_id,
        )
        async with self._database.transaction() as connection:
            await TargetRepository(connection).upsert(household)

    async def forget_household(self, event: HouseholdDeregistered) -> None:
        """A deregistered household is not inspected any more."""
        async with self._database.transaction() as connection:
            await TargetRepository(connection).deactivate("household", str(event.household_id))

    async def remember_organisation(
        self, event: OrganisationRegistered | OrganisationChanged
    ) -> None:
        """The compounds and frontage segments the organisation answers for, and no others.

        A compound's own events decide who manages it: an organisation's claim to a compound
        whose event names another manager is left out.
        """
        async with self._database.transaction() as connection:
            repository = TargetRepository(connection)
            places = PlaceReadModel(connection)
            for kind, ids in (
                ("compound", event.compound_ids),
                ("frontage_segment", event.frontage_segments),
            ):
                await repository.release(event.organisation_id, kind, ids)
                for target_id in ids:
                    grid_id = event.grid_id
                    # Locked: the compound's own event, on another partition, may be changing
                    # its manager right now; read unlocked, a manager it just replaced would
                    # win the compound back (the compound's lane waits, or this one does).
                    if kind == "compound" and (
                        compound := await places.compound(target_id, for_update=True)
                    ):
                        if compound.property_manager_id != event.organisation_id:
                            continue
                        grid_id = compound.grid_id
                    await repository.upsert(
                        Target(
                            kind,
                            target_id,
                            event.organisation_id,
                            SubjectKind.ORGANISATION,
                            grid_id,
                            event.community_id,
                        )
                    )

    async def remember_community(self, event: CommunityCreated | CommunityChanged) -> None:
        """The community's name and time zone (its weeks and deadlines are counted in it)."""
        async with self._database.transaction() as connection:
            await PlaceReadModel(connection).put_community(
                event.community_id, name=event.name, time_zone=event.time_zone
            )

    async def remember_grid(self, event: GridCreated | GridChanged) -> None:
        async with self._database.transaction() as connection:
            await PlaceReadModel(connection).put_grid(
                event.grid_id,
                community_id=event.community_id,
                name=event.name,
                worker_id=event.worker_id,
            )

    async def remember_compound(self, event: CompoundCreated | CompoundChanged) -> None:
        """The compound's grid and property manager; the manager answers for it as a target."""
        async with self._database.transaction() as connection:
            await PlaceReadModel(connection).put_compound(
                event.compound_id,
                community_id=event.community_id,
                grid_id=event.grid_id,
                name=event.name,
                property_manager_id=event.property_manager_id,
            )
            targets = TargetRepository(connection)
            if event.property_manager_id is None:
                await targets.forget("compound", event.compound_id)
                return
            await targets.upsert(
                Target(
                    "compound",
                    event.compound_id,
                    event.property_manager_id,
                    SubjectKind.ORGANISATION,
                    event.grid_id,
                    event.community_id,
                )
            )

    async def responsible_for(self, target: TargetRef) -> Target:
        """The target as the read model knows it, with the party that answers for it."""
        async with self._database.connect() as connection:
            return await resolve_target(connection, target)
