"""Registry use cases: each runs in one transaction and emits its events through the outbox.

Every change to a household or organisation names the version it was made against; a stale
version is a conflict (409), never a silent overwrite. Each change is kept in the household's
history and announced as an event carrying the state consumers need.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_registry.adapters.reads import HouseholdReads
from linli_registry.adapters.repository import (
    DuplicateCandidate,
    HistoryEntry,
    HouseholdFilter,
    HouseholdRepository,
    OrganisationRepository,
    PlaceRepository,
)
from linli_registry.domain import household as rules
from linli_registry.domain import organisation as organisation_rules
from linli_registry.domain import places
from linli_registry.domain.household import Consent, Contact, Household, HouseholdClosed, Member
from linli_registry.domain.organisation import Organisation, OrganisationKind
from linli_registry.domain.places import Building, Community, Compound, Grid
from linli_shared.clock import Clock
from linli_shared.contracts.base import EventData
from linli_shared.contracts.registry import (
    SEALED_EMAIL,
    BuildingCreated,
    CommunityChanged,
    CommunityCreated,
    CompoundChanged,
    CompoundCreated,
    ConsentV1,
    ContactV1,
    GridChanged,
    GridCreated,
    HouseholdConsentChanged,
    HouseholdContactChanged,
    HouseholdDeregistered,
    HouseholdMembersChanged,
    HouseholdMoved,
    HouseholdRegistered,
    MemberV1,
    OrganisationChanged,
    OrganisationRegistered,
)
from linli_shared.crypto import FieldCipher, Sealer
from linli_shared.db import Database
from linli_shared.errors import Conflict, NotFound, ProblemError
from linli_shared.messaging.outbox import Outbox
from linli_shared.pagination import PageRequest, Slice
from linli_shared.reach import EVERYWHERE, Reach
from linli_shared.rules import RuleViolation

SYSTEM = "system"


class PossibleDuplicate(ProblemError):
    """Registering (or changing) would make a second record of an existing household.

    Only candidates within the caller's reach are named, with their reasons; of the others the
    caller learns that one exists and whom to ask, nothing more (no id, no grid, no reason), so
    the check is no window into grids the caller does not reach.
    """

    def __init__(self, candidates: list[DuplicateCandidate], reach: Reach) -> None:
        self.candidates = [c for c in candidates if reach.covers(c.grid_id)]
        self.elsewhere = len(self.candidates) < len(candidates)
        parts = []
        if self.candidates:
            described = "; ".join(
                f"{c.household_id} (same {' and '.join(c.reasons)})" for c in self.candidates
            )
            parts.append(f"an active household matches: {described}")
        if self.elsewhere:
            parts.append(
                "a possible duplicate exists outside your grids: ask community staff to check it"
            )
        super().__init__(
            409,
            "possible-duplicate",
            "Possible duplicate household",
            "; ".join(parts)
            + "; resend with allow_duplicate=true if this is really another household",
        )


@dataclass(frozen=True)
class ConsentInput:
    integrity_scoring: bool
    notice_channels: list[str]


class RegistryService:
    def __init__(
        self,
        database: Database,
        outbox: Outbox,
        clock: Clock,
        cipher: FieldCipher,
        default_time_zone: str = places.DEFAULT_TIME_ZONE,
        *,
        sealer: Sealer,
    ) -> None:
        self._database = database
        self._outbox = outbox
        self._clock = clock
        self._cipher = cipher
        self._default_time_zone = default_time_zone
        self._sealer = sealer

    # --- places -----------------------------------------------------------------------------

    async def create_community(
        self, *, id: str, name: str, time_zone: str | None = None
    ) -> Community:
        community = places.community(id, name, time_zone or self._default_time_zone)
        async with self._database.transaction() as connection:
            if not await PlaceRepository(connection).add_community(community):
                raise Conflict(f"community {id} already exists")
            await self._outbox.add(
                connection, CommunityCreated(**_community_state(community), created_at=self._now())
            )
        return community

    async def change_community(self, community_id: str, *, name: str, time_zone: str) -> Community:
        changed = places.community(community_id, name, time_zone)
        async with self._database.transaction() as connection:
            repository = PlaceRepository(connection)
            if await repository.community(community_id, for_update=True) is None:
                raise NotFound("community", community_id)
            await repository.save_community(changed)
            await self._outbox.add(
                connection, CommunityChanged(**_community_state(changed), changed_at=self._now())
            )
        return changed

    async def communities(self, page: PageRequest) -> Slice[Community]:
        async with self._database.connect() as connection:
            return await PlaceRepository(connection).list_communities(page)

    async def create_grid(
        self,
        *,
        id: str,
        community_id: str,
        name: str,
        worker_id: str | None,
        worker_name: str | None,
    ) -> Grid:
        grid = Grid(id, community_id, name.strip(), worker_id, worker_name)
        async with self._database.transaction() as connection:
            repository = PlaceRepository(connection)
            if await repository.community(community_id) is None:
                raise RuleViolation("community_id", f"unknown community {community_id}")
            if not await repository.add_grid(grid):
                raise Conflict(f"grid {id} already exists")
            await self._outbox.add(
                connection, GridCreated(**_grid_state(grid), created_at=self._now())
            )
        return grid

    async def assign_grid_worker(
        self, grid_id: str, *, worker_id: str, worker_name: str | None
    ) -> Grid:
        async with self._database.transaction() as connection:
            repository = PlaceRepository(connection)
            grid = await repository.grid(grid_id, for_update=True)
            if grid is None:
                raise NotFound("grid", grid_id)
            changed = Grid(grid.id, grid.community_id, grid.name, worker_id, worker_name)
            await repository.set_grid_worker(changed)
            await self._outbox.add(
                connection, GridChanged(**_grid_state(changed), changed_at=self._now())
            )
        return changed

    async def grids(
        self, community_id: str | None, page: PageRequest, reach: Reach = EVERYWHERE
    ) -> Slice[Grid]:
        async with self._database.connect() as connection:
            return await PlaceRepository(connection).list_grids(community_id, page, reach.grids)

    async def get_grid(self, grid_id: str, reach: Reach = EVERYWHERE) -> Grid:
        async with self._database.connect() as connection:
            grid = await PlaceRepository(connection).grid(grid_id)
        if grid is None or not reach.covers(grid.id):
            raise NotFound("grid", grid_id)
        return grid

    async def create_compound(
        self, *, id: str, community_id: str, grid_id: str, name: str, address: str
    ) -> Compound:
        if not name.strip():
            raise RuleViolation("name", "a compound has a name")
        compound = Compound(id, community_id, grid_id, name.strip(), address.strip())
        async with self._database.transaction() as connection:
            repository = PlaceRepository(connection)
            grid = await repository.grid(grid_id)
            if grid is None:
                raise RuleViolation("grid_id", f"unknown grid {grid_id}")
            if grid.community_id != community_id:
                raise RuleViolation("grid_id", f"grid {grid_id} is not in {community_id}")
            if not await repository.add_compound(compound):
                raise Conflict(f"compound {id} already exists")
            await self._outbox.add(
                connection, CompoundCreated(**_compound_state(compound), created_at=self._now())
            )
        return compound

    async def get_compound(
        self, compound_id: str, reach: Reach = EVERYWHERE
    ) -> tuple[Compound, list[Building]]:
        async with self._database.connect() as connection:
            repository = PlaceRepository(connection)
            compound = await repository.compound(compound_id)
            if compound is None or not reach.covers(compound.grid_id):
                raise NotFound("compound", compound_id)
            return compound, await repository.buildings_of(compound_id)

    async def compounds(
        self,
        community_id: str | None,
        grid_id: str | None,
        page: PageRequest,
        reach: Reach = EVERYWHERE,
    ) -> Slice[Compound]:
        async with self._database.connect() as connection:
            return await PlaceRepository(connection).list_compounds(
                community_id, grid_id, page, reach.grids
            )

    async def create_building(self, *, id: str, compound_id: str, name: str) -> Building:
        building = Building(id, compound_id, name.strip())
        async with self._database.transaction() as connection:
            repository = PlaceRepository(connection)
            compound = await repository.compound(compound_id)
            if compound is None:
                raise RuleViolation("compound_id", f"unknown compound {compound_id}")
            if not await repository.add_building(building):
                raise Conflict(f"building {id} already exists")
            await self._outbox.add(
                connection,
                BuildingCreated(
                    building_id=building.id,
                    compound_id=compound.id,
                    community_id=compound.community_id,
                    grid_id=compound.grid_id,
                    name=building.name,
                    created_at=self._now(),
                ),
            )
        return building

    def _now(self) -> datetime:
        return self._clock.now()

    async def _check_place(
        self,
        connection: AsyncConnection,
        community_id: str,
        compound_id: str | None,
        building_id: str | None,
        reach: Reach = EVERYWHERE,
    ) -> None:
        """A compound outside the caller's reach reads as unknown, as it does everywhere."""
        repository = PlaceRepository(connection)
        if compound_id is not None:
            compound = await repository.compound(compound_id)
            if compound is None or not reach.covers(compound.grid_id):
                raise RuleViolation("compound_id", f"unknown compound {compound_id}")
            if compound.community_id != community_id:
                raise RuleViolation(
                    "compound_id", f"compound {compound_id} is not in this community"
                )
        if building_id is not None:
            building = await repository.building(building_id)
            if building is None or building.compound_id != compound_id:
                raise RuleViolation("building_id", f"no building {building_id} in the compound")

    # --- households -------------------------------------------------------------------------

    async def register_household(
        self,
        *,
        community_id: str,
        grid_id: str,
        address: str,
        members: list[Member],
        contact_email: str,
        compound_id: str | None = None,
        building_id: str | None = None,
        contact_phone: str | None = None,
        preferred_channels: tuple[str, ...] = ("email",),
        consent: ConsentInput | None = None,
        allow_duplicate: bool = False,
        registered_by: str = SYSTEM,
        reach: Reach = EVERYWHERE,
    ) -> Household:
        now = self._clock.now()
        household = rules.register(
            community_id=community_id,
            grid_id=grid_id,
            address=address,
            members=members,
            contact_email=contact_email,
            now=now,
            compound_id=compound_id,
            building_id=building_id,
            contact_phone=contact_phone,
            preferred_channels=preferred_channels,
            consent=(
                Consent(
                    consent.integrity_scoring,
                    tuple(consent.notice_channels),
                    registered_by,
                    now,
                )
                if consent is not None
                else None
            ),
        )
        async with self._database.transaction() as connection:
            await self._check_place(connection, community_id, compound_id, building_id, reach)
            repository = HouseholdRepository(connection, self._cipher)
            household = await self._identified(repository, household, reach)
            if not allow_duplicate:
                candidates = await repository.possible_duplicates(household)
                if candidates:
                    raise PossibleDuplicate(candidates, reach)
            await repository.add(household)
            await repository.add_history(
                household, "registered", registered_by, _summary(household), now
            )
            await self._outbox.add(connection, registered_event(household, self._sealer))
        return household

    async def _identified(
        self, repository: HouseholdRepository, household: Household, reach: Reach
    ) -> Household:
        """Give new members their resident id: the one the registry already knows for their ID
        number (a resident who moves between households stays one resident), else a new one.
        A resident known only outside the caller's grids gets a new id: reusing it would link
        the caller's record to one it may not see (community staff, who reach every grid, keep
        one resident across grids)."""
        taken = {m.resident_id for m in household.members if m.resident_id is not None}
        fresh: list[uuid.UUID] = []
        for member in household.members:
            if member.resident_id is not None:
                continue
            known = (
                await repository.resident_with_id_number(member.id_number)
                if member.id_number
                else None
            )
            resident_id = (
                known[0]
                if known is not None and known[0] not in taken and reach.covers(known[1])
                else uuid.uuid4()
            )
            taken.add(resident_id)
            fresh.append(resident_id)
        return rules.with_resident_ids(household, fresh) if fresh else household

    async def get_household(self, household_id: uuid.UUID, reach: Reach = EVERYWHERE) -> Household:
        """The household; outside the caller's grids it is not found (its existence is not
        revealed)."""
        household = await HouseholdReads(self._database, self._cipher).household(household_id)
        if household is None or not reach.covers(household.grid_id):
            raise NotFound("household", household_id)
        return household

    async def search_households(
        self, criteria: HouseholdFilter, page: PageRequest, reach: Reach = EVERYWHERE
    ) -> Slice[Household]:
        async with self._database.connect() as connection:
            return await HouseholdRepository(connection, self._cipher).search(
                replace(criteria, grid_ids=reach.grids), page
            )

    async def household_history(
        self, household_id: uuid.UUID, reach: Reach = EVERYWHERE
    ) -> list[HistoryEntry]:
        async with self._database.connect() as connection:
            repository = HouseholdRepository(connection, self._cipher)
            household = await repository.get(household_id)
            if household is None or not reach.covers(household.grid_id):
                raise NotFound("household", household_id)
            return await repository.history(household_id)

    async def move_household(
        self,
        household_id: uuid.UUID,
        *,
        version: int,
        grid_id: str,
        address: str,
        compound_id: str | None,
        building_id: str | None,
        changed_by: str,
        reach: Reach = EVERYWHERE,
    ) -> Household:
        def change(current: Household) -> Household:
            return rules.move(
                current,
                grid_id=grid_id,
                address=address,
                compound_id=compound_id,
                building_id=building_id,
            )

        def event(moved: Household, now: datetime) -> EventData:
            return HouseholdMoved(
                household_id=moved.id,
                community_id=moved.community_id,
                grid_id=moved.grid_id,
                address=moved.address,
                compound_id=moved.compound_id,
                building_id=moved.building_id,
                moved_at=now,
                version=moved.version,
            )

        return await self._change(
            household_id, version, "moved", changed_by, change, event, reach, check_place=True
        )

    async def change_members(
        self,
        household_id: uuid.UUID,
        *,
        version: int,
        members: list[Member],
        allow_duplicate: bool = False,
        changed_by: str,
        reach: Reach = EVERYWHERE,
    ) -> Household:
        def event(changed: Household, now: datetime) -> EventData:
            return HouseholdMembersChanged(
                household_id=changed.id,
                members=members_v1(changed),
                changed_at=now,
                version=changed.version,
            )

        return await self._change(
            household_id,
            version,
            "members-changed",
            changed_by,
            lambda current: rules.change_members(current, members),
            event,
            reach,
            members_changed=True,
            check_id_duplicates=not allow_duplicate,
        )

    async def change_contact(
        self,
        household_id: uuid.UUID,
        *,
        version: int,
        contact: Contact,
        changed_by: str,
        reach: Reach = EVERYWHERE,
    ) -> Household:
        def event(changed: Household, now: datetime) -> EventData:
            return HouseholdContactChanged(
                household_id=changed.id,
                contact=contact_v1(changed.contact, changed.id, self._sealer),
                changed_at=now,
                version=changed.version,
            )

        return await self._change(
            household_id,
            version,
            "contact-changed",
            changed_by,
            lambda current: rules.change_contact(current, contact),
            event,
            reach,
        )

    async def change_consent(
        self,
        household_id: uuid.UUID,
        *,
        version: int,
        integrity_scoring: bool,
        notice_channels: list[str],
        recorded_by: str,
        reach: Reach = EVERYWHERE,
    ) -> Household:
        now = self._clock.now()

        def event(changed: Household, at: datetime) -> EventData:
            return HouseholdConsentChanged(
                household_id=changed.id,
                consent=consent_v1(changed.consent),
                version=changed.version,
            )

        return await self._change(
            household_id,
            version,
            "consent-changed",
            recorded_by,
            lambda current: rules.change_consent(
                current,
                integrity_scoring=integrity_scoring,
                notice_channels=notice_channels,
                recorded_by=recorded_by,
                now=now,
            ),
            event,
            reach,
        )

    async def deregister_household(
        self,
        household_id: uuid.UUID,
        *,
        version: int,
        reason: str,
        changed_by: str,
        reach: Reach = EVERYWHERE,
    ) -> Household:
        now = self._clock.now()

        def event(changed: Household, at: datetime) -> EventData:
            return HouseholdDeregistered(
                household_id=changed.id,
                reason=changed.deregistration_reason or reason,
                deregistered_at=changed.deregistered_at or at,
                version=changed.version,
            )

        return await self._change(
            household_id,
            version,
            "deregistered",
            changed_by,
            lambda current: rules.deregister(current, reason=reason, now=now),
            event,
            reach,
        )

    async def _change(
        self,
        household_id: uuid.UUID,
        version: int,
        change_name: str,
        changed_by: str,
        change: Callable[[Household], Household],
        event: Callable[[Household, datetime], EventData],
        reach: Reach,
        *,
        members_changed: bool = False,
        check_place: bool = False,
        check_id_duplicates: bool = False,
    ) -> Household:
        now = self._clock.now()
        async with self._database.transaction() as connection:
            repository = HouseholdRepository(connection, self._cipher)
            current = await repository.get(household_id, for_update=True)
            if current is None or not reach.covers(current.grid_id):
                raise NotFound("household", household_id)
            if current.version != version:
                raise Conflict(
                    f"household {household_id} is at version {current.version}, "
                    f"not {version}: read it again and reapply the change"
                )
            try:
                changed = change(current)
            except HouseholdClosed as error:
                raise Conflict(str(error)) from error
            changed = await self._identified(repository, changed, reach)
            if check_place:
                await self._check_place(
                    connection,
                    changed.community_id,
                    changed.compound_id,
                    changed.building_id,
                    reach,
                )
            if check_id_duplicates:
                candidates = [
                    c
                    for c in await repository.possible_duplicates(changed)
                    if "id_number" in c.reasons
                ]
                if candidates:
                    raise PossibleDuplicate(candidates, reach)
            if not await repository.save(changed, members_changed=members_changed):
                raise Conflict(f"household {household_id} was changed meanwhile")
            await repository.add_history(changed, change_name, changed_by, _summary(changed), now)
            await self._outbox.add(connection, event(changed, now))
        return changed

    # --- organisations ----------------------------------------------------------------------

    async def register_organisation(
        self,
        *,
        kind: OrganisationKind,
        name: str,
        community_id: str,
        grid_id: str | None,
        compound_ids: list[str],
        frontage_segments: list[str],
        contact: Contact,
        reach: Reach = EVERYWHERE,
    ) -> Organisation:
        now = self._clock.now()
        organisation = organisation_rules.register(
            kind=kind,
            name=name,
            community_id=community_id,
            grid_id=grid_id,
            compound_ids=compound_ids,
            frontage_segments=frontage_segments,
            contact=contact,
            now=now,
        )
        async with self._database.transaction() as connection:
            await self._check_compounds(connection, organisation, reach)
            repository = OrganisationRepository(connection, self._cipher)
            managers_before = await self._managers(connection, organisation.compound_ids)
            taken_from = await self._take_over(connection, organisation, now)
            await repository.add(organisation)
            await self._announce_manager_changes(connection, managers_before, now)
            await self._outbox.add(connection, organisation_registered(organisation, self._sealer))
            for previous in taken_from:
                await self._outbox.add(
                    connection, organisation_changed(previous, now, self._sealer)
                )
        return organisation

    async def change_organisation(
        self,
        organisation_id: uuid.UUID,
        *,
        version: int,
        name: str,
        grid_id: str | None,
        compound_ids: list[str],
        frontage_segments: list[str],
        contact: Contact,
        reach: Reach = EVERYWHERE,
    ) -> Organisation:
        now = self._clock.now()
        async with self._database.transaction() as connection:
            repository = OrganisationRepository(connection, self._cipher)
            current = await repository.get(organisation_id, for_update=True)
            if current is None or not reach.covers(current.grid_id):
                raise NotFound("organisation", organisation_id)
            if current.version != version:
                raise Conflict(
                    f"organisation {organisation_id} is at version {current.version}, "
                    f"not {version}: read it again and reapply the change"
                )
            changed = organisation_rules.change(
                current,
                name=name,
                grid_id=grid_id,
                compound_ids=compound_ids,
                frontage_segments=frontage_segments,
                contact=contact,
            )
            await self._check_compounds(connection, changed, reach)
            managers_before = await self._managers(
                connection, {*current.compound_ids, *changed.compound_ids}
            )
            taken_from = await self._take_over(connection, changed, now)
            if not await repository.save(changed):
                raise Conflict(f"organisation {organisation_id} was changed meanwhile")
            await self._announce_manager_changes(connection, managers_before, now)
            await self._outbox.add(connection, organisation_changed(changed, now, self._sealer))
            for previous in taken_from:
                await self._outbox.add(
                    connection, organisation_changed(previous, now, self._sealer)
                )
        return changed

    async def _check_compounds(
        self, connection: AsyncConnection, organisation: Organisation, reach: Reach
    ) -> None:
        """A compound outside the caller's reach reads as unknown, as it does everywhere."""
        if not organisation.compound_ids:
            return
        found = await PlaceRepository(connection).compounds_by_id(organisation.compound_ids)
        known = {c.id: c for c in found}
        for compound_id in organisation.compound_ids:
            compound = known.get(compound_id)
            if compound is None or not reach.covers(compound.grid_id):
                raise RuleViolation("compound_ids", f"unknown compound {compound_id}")
            if compound.community_id != organisation.community_id:
                raise RuleViolation(
                    "compound_ids", f"compound {compound_id} is in another community"
                )

    async def _managers(
        self, connection: AsyncConnection, compound_ids: Iterable[str]
    ) -> dict[str, uuid.UUID | None]:
        found = await PlaceRepository(connection).compounds_by_id(sorted(compound_ids))
        return {c.id: c.property_manager_id for c in found}

    async def _announce_manager_changes(
        self, connection: AsyncConnection, before: dict[str, uuid.UUID | None], now: datetime
    ) -> None:
        """Each compound whose property manager changed is announced with its new state."""
        for compound in await PlaceRepository(connection).compounds_by_id(sorted(before)):
            if compound.property_manager_id != before[compound.id]:
                await self._outbox.add(
                    connection, CompoundChanged(**_compound_state(compound), changed_at=now)
                )

    async def _take_over(
        self, connection: AsyncConnection, organisation: Organisation, now: datetime
    ) -> list[Organisation]:
        """Compounds and segments another organisation held move to this one; it is told."""
        repository = OrganisationRepository(connection, self._cipher)
        holders = await repository.holders(
            organisation.compound_ids, organisation.frontage_segments
        )
        changed = []
        for holder_id, (held_compounds, held_segments) in sorted(
            holders.items(), key=lambda item: str(item[0])
        ):
            if holder_id == organisation.id:
                continue
            holder = await repository.get(holder_id, for_update=True)
            if holder is None:
                continue
            holder = organisation_rules.release(
                holder, compounds=held_compounds, segments=held_segments
            )
            await repository.save(holder)
            changed.append(holder)
        return changed

    async def get_organisation(
        self, organisation_id: uuid.UUID, reach: Reach = EVERYWHERE
    ) -> Organisation:
        async with self._database.connect() as connection:
            organisation = await OrganisationRepository(connection, self._cipher).get(
                organisation_id
            )
        if organisation is None or not reach.covers(organisation.grid_id):
            raise NotFound("organisation", organisation_id)
        return organisation

    async def search_organisations(
        self,
        *,
        kind: OrganisationKind | None,
        community_id: str | None,
        grid_id: str | None,
        name: str | None,
        page: PageRequest,
        reach: Reach = EVERYWHERE,
    ) -> Slice[Organisation]:
        async with self._database.connect() as connection:
            return await OrganisationRepository(connection, self._cipher).search(
                kind=kind,
                community_id=community_id,
                grid_id=grid_id,
                name=name,
                page=page,
                grid_ids=reach.grids,
            )


def _summary(household: Household) -> dict[str, Any]:
    """What a history entry keeps: the state without ID numbers or phones."""
    return {
        "status": household.status.value,
        "grid_id": household.grid_id,
        "compound_id": household.compound_id,
        "building_id": household.building_id,
        "address": household.address,
        "members": [
            {"name": m.name, "relation": m.relation, "resident_id": str(m.resident_id)}
            for m in household.members
        ],
        "preferred_channels": list(household.preferred_channels),
        "consent": {
            "integrity_scoring": household.consent.integrity_scoring,
            "notice_channels": list(household.consent.notice_channels),
            "recorded_by": household.consent.recorded_by,
        },
        "deregistration_reason": household.deregistration_reason,
    }


def _community_state(community: Community) -> dict[str, Any]:
    return {
        "community_id": community.id,
        "name": community.name,
        "time_zone": community.time_zone,
    }


def _grid_state(grid: Grid) -> dict[str, Any]:
    return {
        "grid_id": grid.id,
        "community_id": grid.community_id,
        "name": grid.name,
        "worker_id": grid.worker_id,
        "worker_name": grid.worker_name,
    }


def _compound_state(compound: Compound) -> dict[str, Any]:
    return {
        "compound_id": compound.id,
        "community_id": compound.community_id,
        "grid_id": compound.grid_id,
        "name": compound.name,
        "address": compound.address,
        "property_manager_id": compound.property_manager_id,
    }


def members_v1(household: Household) -> list[MemberV1]:
    return [
        MemberV1(name=m.name, relation=m.relation, resident_id=m.resident_id)
        for m in household.members
    ]


def contact_v1(contact: Contact, subject: uuid.UUID, sealer: Sealer) -> ContactV1:
    """The contact as it travels: e-mail and phone sealed for notify, never in clear."""
    return ContactV1.model_validate(
        {
            "preferred_channels": list(contact.preferred_channels),
            "sealed": sealer.seal(str(subject), {"email": contact.email, "phone": contact.phone}),
        }
    )


def consent_v1(consent: Consent) -> ConsentV1:
    return ConsentV1.model_validate(
        {
            "integrity_scoring": consent.integrity_scoring,
            "notice_channels": list(consent.notice_channels),
            "recorded_by": consent.recorded_by,
            "recorded_at": consent.recorded_at,
        }
    )


def registered_event(household: Household, sealer: Sealer) -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id=household.id,
        community_id=household.community_id,
        grid_id=household.grid_id,
        address=household.address,
        members=members_v1(household),
        # Required since 1.0.0: a reserved, undeliverable address; the real one is sealed.
        contact_email=SEALED_EMAIL,
        registered_at=household.registered_at,
        compound_id=household.compound_id,
        building_id=household.building_id,
        contact=contact_v1(household.contact, household.id, sealer),
        # Consent not yet recorded travels as null: consumers apply their own default.
        consent=consent_v1(household.consent) if household.consent.recorded_at else None,
        version=household.version,
    )


def organisation_registered(organisation: Organisation, sealer: Sealer) -> OrganisationRegistered:
    return OrganisationRegistered(
        organisation_id=organisation.id,
        kind=organisation.kind.value,
        name=organisation.name,
        community_id=organisation.community_id,
        grid_id=organisation.grid_id,
        compound_ids=list(organisation.compound_ids),
        frontage_segments=list(organisation.frontage_segments),
        contact=contact_v1(organisation.contact, organisation.id, sealer),
        registered_at=organisation.registered_at,
        version=organisation.version,
    )


def organisation_changed(
    organisation: Organisation, now: datetime, sealer: Sealer
) -> OrganisationChanged:
    return OrganisationChanged(
        organisation_id=organisation.id,
        kind=organisation.kind.value,
        name=organisation.name,
        community_id=organisation.community_id,
        grid_id=organisation.grid_id,
        compound_ids=list(organisation.compound_ids),
        frontage_segments=list(organisation.frontage_segments),
        contact=contact_v1(organisation.contact, organisation.id, sealer),
        changed_at=now,
        version=organisation.version,
    )
