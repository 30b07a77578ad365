"""Registry use cases: each runs in one transaction and emits its events through the outbox.

Every change to a household or organisation names the version it was made against; a stale
version is a conflict (409), never a silent overwrite. Each change is kept in the household's
history and announced as an event carrying the state consumers need.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
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
    ConsentV1,
    ContactV1,
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
from linli_shared.crypto import FieldCipher
from linli_shared.db import Database
from linli_shared.errors import Conflict, NotFound, ProblemError
from linli_shared.messaging.outbox import Outbox
from linli_shared.pagination import PageRequest, Slice
from linli_shared.rules import RuleViolation

SYSTEM = "system"


class PossibleDuplicate(ProblemError):
    """Registering (or changing) would make a second record of an existing household."""

    def __init__(self, candidates: list[DuplicateCandidate]) -> None:
        described = "; ".join(
            f"{c.household_id} (same {' and '.join(c.reasons)})" for c in candidates
        )
        super().__init__(
            409,
            "possible-duplicate",
            "Possible duplicate household",
            f"an active household matches: {described}; "
            "resend with allow_duplicate=true if this is really another household",
        )
        self.candidates = candidates


@dataclass(frozen=True)
class ConsentInput:
    integrity_scoring: bool
    notice_channels: list[str]


class RegistryService:
    def __init__(
        self, database: Database, outbox: Outbox, clock: Clock, cipher: FieldCipher
    ) -> None:
        self._database = database
        self._outbox = outbox
        self._clock = clock
        self._cipher = cipher

    # --- places -----------------------------------------------------------------------------

    async def create_community(self, *, id: str, name: str, time_zone: str) -> Community:
        community = places.community(id, name, time_zone)
        async with self._database.transaction() as connection:
            if not await PlaceRepository(connection).add_community(community):
                raise Conflict(f"community {id} already exists")
        return community

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
        return grid

    async def assign_grid_worker(
        self, grid_id: str, *, worker_id: str, worker_name: str | None
    ) -> Grid:
        async with self._database.transaction() as connection:
            repository = PlaceRepository(connection)
            grid = await repository.grid(grid_id)
            if grid is None:
                raise NotFound("grid", grid_id)
            changed = Grid(grid.id, grid.community_id, grid.name, worker_id, worker_name)
            await repository.set_grid_worker(changed)
        return changed

    async def grids(self, community_id: str | None, page: PageRequest) -> Slice[Grid]:
        async with self._database.connect() as connection:
            return await PlaceRepository(connection).list_grids(community_id, page)

    async def get_grid(self, grid_id: str) -> Grid:
        async with self._database.connect() as connection:
            grid = await PlaceRepository(connection).grid(grid_id)
        if grid is None:
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
        return compound

    async def get_compound(self, compound_id: str) -> tuple[Compound, list[Building]]:
        async with self._database.connect() as connection:
            repository = PlaceRepository(connection)
            compound = await repository.compound(compound_id)
            if compound is None:
                raise NotFound("compound", compound_id)
            return compound, await repository.buildings_of(compound_id)

    async def compounds(
        self, community_id: str | None, grid_id: str | None, page: PageRequest
    ) -> Slice[Compound]:
        async with self._database.connect() as connection:
            return await PlaceRepository(connection).list_compounds(community_id, grid_id, page)

    async def create_building(self, *, id: str, compound_id: str, name: str) -> Building:
        building = Building(id, compound_id, name.strip())
        async with self._database.transaction() as connection:
            repository = PlaceRepository(connection)
            if await repository.compound(compound_id) is None:
                raise RuleViolation("compound_id", f"unknown compound {compound_id}")
            if not await repository.add_building(building):
                raise Conflict(f"building {id} already exists")
        return building

    async def _check_place(
        self,
        connection: AsyncConnection,
        community_id: str,
        compound_id: str | None,
        building_id: str | None,
    ) -> None:
        repository = PlaceRepository(connection)
        if compound_id is not None:
            compound = await repository.compound(compound_id)
            if compound is None:
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
            await self._check_place(connection, community_id, compound_id, building_id)
            repository = HouseholdRepository(connection, self._cipher)
            if not allow_duplicate:
                candidates = await repository.possible_duplicates(household)
                if candidates:
                    raise PossibleDuplicate(candidates)
            await repository.add(household)
            await repository.add_history(
                household, "registered", registered_by, _summary(household), now
            )
            await self._outbox.add(connection, registered_event(household))
        return household

    async def get_household(self, household_id: uuid.UUID) -> Household:
        household = await HouseholdReads(self._database, self._cipher).household(household_id)
        if household is None:
            raise NotFound("household", household_id)
        return household

    async def search_households(
        self, criteria: HouseholdFilter, page: PageRequest
    ) -> Slice[Household]:
        async with self._database.connect() as connection:
            return await HouseholdRepository(connection, self._cipher).search(criteria, page)

    async def household_history(self, household_id: uuid.UUID) -> list[HistoryEntry]:
        async with self._database.connect() as connection:
            entries = await HouseholdRepository(connection, self._cipher).history(household_id)
        if not entries:
            raise NotFound("household", household_id)
        return entries

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
            household_id, version, "moved", changed_by, change, event, check_place=True
        )

    async def change_members(
        self,
        household_id: uuid.UUID,
        *,
        version: int,
        members: list[Member],
        allow_duplicate: bool = False,
        changed_by: str,
    ) -> Household:
        def event(changed: Household, now: datetime) -> EventData:
            return HouseholdMembersChanged(
                household_id=changed.id,
                members=[MemberV1(name=m.name, relation=m.relation) for m in changed.members],
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
            members_changed=True,
            check_id_duplicates=not allow_duplicate,
        )

    async def change_contact(
        self, household_id: uuid.UUID, *, version: int, contact: Contact, changed_by: str
    ) -> Household:
        def event(changed: Household, now: datetime) -> EventData:
            return HouseholdContactChanged(
                household_id=changed.id,
                contact=contact_v1(changed.contact),
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
        )

    async def change_consent(
        self,
        household_id: uuid.UUID,
        *,
        version: int,
        integrity_scoring: bool,
        notice_channels: list[str],
        recorded_by: str,
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
        )

    async def deregister_household(
        self, household_id: uuid.UUID, *, version: int, reason: str, changed_by: str
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
        )

    async def _change(
        self,
        household_id: uuid.UUID,
        version: int,
        change_name: str,
        changed_by: str,
        change: Callable[[Household], Household],
        event: Callable[[Household, datetime], EventData],
        *,
        members_changed: bool = False,
        check_place: bool = False,
        check_id_duplicates: bool = False,
    ) -> Household:
        now = self._clock.now()
        async with self._database.transaction() as connection:
            repository = HouseholdRepository(connection, self._cipher)
            current = await repository.get(household_id, for_update=True)
            if current is None:
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
            if check_place:
                await self._check_place(
                    connection, changed.community_id, changed.compound_id, changed.building_id
                )
            if check_id_duplicates:
                candidates = [
                    c
                    for c in await repository.possible_duplicates(changed)
                    if "id_number" in c.reasons
                ]
                if candidates:
                    raise PossibleDuplicate(candidates)
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
            await self._check_compounds(connection, organisation)
            repository = OrganisationRepository(connection, self._cipher)
            taken_from = await self._take_over(connection, organisation, now)
            await repository.add(organisation)
            await self._outbox.add(connection, organisation_registered(organisation))
            for previous in taken_from:
                await self._outbox.add(connection, organisation_changed(previous, now))
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
    ) -> Organisation:
        now = self._clock.now()
        async with self._database.transaction() as connection:
            repository = OrganisationRepository(connection, self._cipher)
            current = await repository.get(organisation_id, for_update=True)
            if current is None:
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
            await self._check_compounds(connection, changed)
            taken_from = await self._take_over(connection, changed, now)
            if not await repository.save(changed):
                raise Conflict(f"organisation {organisation_id} was changed meanwhile")
            await self._outbox.add(connection, organisation_changed(changed, now))
            for previous in taken_from:
                await self._outbox.add(connection, organisation_changed(previous, now))
        return changed

    async def _check_compounds(
        self, connection: AsyncConnection, organisation: Organisation
    ) -> None:
        if not organisation.compound_ids:
            return
        found = await PlaceRepository(connection).compounds_by_id(organisation.compound_ids)
        known = {c.id: c for c in found}
        for compound_id in organisation.compound_ids:
            compound = known.get(compound_id)
            if compound is None:
                raise RuleViolation("compound_ids", f"unknown compound {compound_id}")
            if compound.community_id != organisation.community_id:
                raise RuleViolation(
                    "compound_ids", f"compound {compound_id} is in another community"
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

    async def get_organisation(self, organisation_id: uuid.UUID) -> Organisation:
        async with self._database.connect() as connection:
            organisation = await OrganisationRepository(connection, self._cipher).get(
                organisation_id
            )
        if organisation is None:
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
    ) -> Slice[Organisation]:
        async with self._database.connect() as connection:
            return await OrganisationRepository(connection, self._cipher).search(
                kind=kind, community_id=community_id, grid_id=grid_id, name=name, page=page
            )


def _summary(household: Household) -> dict[str, Any]:
    """What a history entry keeps: the state without ID numbers or phones."""
    return {
        "status": household.status.value,
        "grid_id": household.grid_id,
        "compound_id": household.compound_id,
        "building_id": household.building_id,
        "address": household.address,
        "members": [{"name": m.name, "relation": m.relation} for m in household.members],
        "preferred_channels": list(household.preferred_channels),
        "consent": {
            "integrity_scoring": household.consent.integrity_scoring,
            "notice_channels": list(household.consent.notice_channels),
            "recorded_by": household.consent.recorded_by,
        },
        "deregistration_reason": household.deregistration_reason,
    }


def contact_v1(contact: Contact) -> ContactV1:
    return ContactV1.model_validate(
        {
            "email": contact.email,
            "phone": contact.phone,
            "preferred_channels": list(contact.preferred_channels),
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


def registered_event(household: Household) -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id=household.id,
        community_id=household.community_id,
        grid_id=household.grid_id,
        address=household.address,
        members=[MemberV1(name=m.name, relation=m.relation) for m in household.members],
        contact_email=household.contact_email,
        registered_at=household.registered_at,
        compound_id=household.compound_id,
        building_id=household.building_id,
        contact=contact_v1(household.contact),
        # Consent not yet recorded travels as null: consumers apply their own default.
        consent=consent_v1(household.consent) if household.consent.recorded_at else None,
        version=household.version,
    )


def organisation_registered(organisation: Organisation) -> OrganisationRegistered:
    return OrganisationRegistered(
        organisation_id=organisation.id,
        kind=organisation.kind.value,
        name=organisation.name,
        community_id=organisation.community_id,
        grid_id=organisation.grid_id,
        compound_ids=list(organisation.compound_ids),
        frontage_segments=list(organisation.frontage_segments),
        contact=contact_v1(organisation.contact),
        registered_at=organisation.registered_at,
        version=organisation.version,
    )


def organisation_changed(organisation: Organisation, now: datetime) -> OrganisationChanged:
    return OrganisationChanged(
        organisation_id=organisation.id,
        kind=organisation.kind.value,
        name=organisation.name,
        community_id=organisation.community_id,
        grid_id=organisation.grid_id,
        compound_ids=list(organisation.compound_ids),
        frontage_segments=list(organisation.frontage_segments),
        contact=contact_v1(organisation.contact),
        changed_at=now,
        version=organisation.version,
    )
