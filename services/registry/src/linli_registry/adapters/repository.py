"""Registry repositories: SQLAlchemy Core over the registry's own tables.

Personal data (ID numbers, phones) is encrypted here, on the way in, and decrypted on the way
out: nothing above this layer sees a ciphertext, nothing below it sees a plain value.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_registry.adapters.tables import (
    buildings,
    communities,
    compounds,
    frontage_segments,
    grids,
    household_history,
    households,
    members,
    organisations,
)
from linli_registry.domain.household import (
    Consent,
    Contact,
    Household,
    Member,
    Status,
    address_key,
)
from linli_registry.domain.organisation import Organisation, OrganisationKind
from linli_registry.domain.personal import id_tail
from linli_registry.domain.places import Building, Community, Compound, Grid
from linli_registry.domain.records import DuplicateCandidate, HistoryEntry, HouseholdFilter
from linli_shared.crypto import FieldCipher
from linli_shared.pagination import PageRequest, Slice


class HouseholdRepository:
    def __init__(self, connection: AsyncConnection, cipher: FieldCipher) -> None:
        self._connection = connection
        self._cipher = cipher

    def _row(self, household: Household) -> dict[str, Any]:
        return {
            "community_id": household.community_id,
            "grid_id": household.grid_id,
            "address": household.address,
            "address_key": household.address_key,
            "contact_email": household.contact_email,
            "contact_phone_enc": self._cipher.encrypt_optional(household.contact_phone),
            "preferred_channels": list(household.preferred_channels),
            "compound_id": household.compound_id,
            "building_id": household.building_id,
            "consent_integrity_scoring": household.consent.integrity_scoring,
            "consent_channels": list(household.consent.notice_channels),
            "consent_recorded_by": household.consent.recorded_by,
            "consent_recorded_at": household.consent.recorded_at,
            "status": household.status.value,
            "deregistered_at": household.deregistered_at,
            "deregistration_reason": household.deregistration_reason,
            "version": household.version,
        }

    async def add(self, household: Household) -> None:
        await self._connection.execute(
            insert(households).values(
                id=household.id, registered_at=household.registered_at, **self._row(household)
            )
        )
        await self._insert_members(household)

    async def _insert_members(self, household: Household) -> None:
        if not household.members:  # an erased household
            return
        await self._connection.execute(
            insert(members),
            [
                {
                    "household_id": household.id,
                    "position": i,
                    "name": m.name,
                    "relation": m.relation,
                    "birth_date": m.birth_date,
                    "id_number_enc": self._cipher.encrypt_optional(m.id_number),
                    "id_number_index": (
                        self._cipher.blind_index(m.id_number) if m.id_number else None
                    ),
                    "id_tail": id_tail(m.id_number) if m.id_number else None,
                    "phone_enc": self._cipher.encrypt_optional(m.phone),
                    "resident_id": m.resident_id,
                }
                for i, m in enumerate(household.members)
            ],
        )

    async def save(self, household: Household, *, members_changed: bool = False) -> bool:
        """Write the next version; False when the stored version is not the one before it."""
        result = await self._connection.execute(
            update(households)
            .where(households.c.id == household.id, households.c.version == household.version - 1)
            .values(**self._row(household))
        )
        if result.rowcount != 1:
            return False
        if members_changed:
            await self._connection.execute(
                delete(members).where(members.c.household_id == household.id)
            )
            await self._insert_members(household)
        return True

    async def get(self, household_id: uuid.UUID, *, for_update: bool = False) -> Household | None:
        query = select(households).where(households.c.id == household_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).one_or_none()
        if row is None:
            return None
        return (await self._hydrate([row]))[0]

    async def _hydrate(self, rows: Sequence[Any]) -> list[Household]:
        ids = [row.id for row in rows]
        by_household: dict[uuid.UUID, list[Member]] = {i: [] for i in ids}
        if ids:
            member_rows = await self._connection.execute(
                select(members)
                .where(members.c.household_id.in_(ids))
                .order_by(members.c.household_id, members.c.position)
            )
            for m in member_rows:
                by_household[m.household_id].append(
                    Member(
                        name=m.name,
                        relation=m.relation,
                        birth_date=m.birth_date,
                        id_number=self._cipher.decrypt_optional(m.id_number_enc),
                        phone=self._cipher.decrypt_optional(m.phone_enc),
                        resident_id=m.resident_id,
                    )
                )
        return [household_of(row._mapping, by_household[row.id], self._cipher) for row in rows]

    async def search(self, criteria: HouseholdFilter, page: PageRequest) -> Slice[Household]:
        conditions: list[Any] = []
        if criteria.community_id:
            conditions.append(households.c.community_id == criteria.community_id)
        if criteria.grid_id:
            conditions.append(households.c.grid_id == criteria.grid_id)
        if criteria.grid_ids is not None:
            conditions.append(
                or_(
                    households.c.grid_id.in_(sorted(criteria.grid_ids)),
                    households.c.id.in_(sorted(criteria.household_ids)),
                )
            )
        if criteria.compound_id:
            conditions.append(households.c.compound_id == criteria.compound_id)
        if criteria.status is not None:
            conditions.append(households.c.status == criteria.status.value)
        if criteria.address:
            pattern = f"%{_escaped(address_key(criteria.address))}%"
            conditions.append(households.c.address_key.like(pattern, escape="\\"))
        member_conditions: list[Any] = []
        if criteria.name:
            member_conditions.append(
                members.c.name.like(f"%{_escaped(criteria.name.strip())}%", escape="\\")
            )
        if criteria.id_number:
            index = self._cipher.blind_index(criteria.id_number)
            member_conditions.append(members.c.id_number_index == index)
        if criteria.id_tail:
            member_conditions.append(members.c.id_tail == criteria.id_tail.upper())
        if member_conditions:
            conditions.append(
                households.c.id.in_(select(members.c.household_id).where(and_(*member_conditions)))
            )
        count_query = select(func.count()).select_from(households).where(*conditions)
        query = (
            select(households)
            .where(*conditions)
            .order_by(households.c.registered_at, households.c.id)
        )
        total = int(await self._connection.scalar(count_query) or 0)
        rows = (await self._connection.execute(query.limit(page.limit).offset(page.offset))).all()
        return Slice(await self._hydrate(rows), total, page)

    async def household_of(self, resident_id: uuid.UUID) -> uuid.UUID | None:
        """The household this resident is a member of: an active one before a deregistered
        one, the latest registered first."""
        household: uuid.UUID | None = await self._connection.scalar(
            select(members.c.household_id)
            .join(households, households.c.id == members.c.household_id)
            .where(members.c.resident_id == resident_id)
            .order_by(
                (households.c.status == "active").desc(),
                households.c.registered_at.desc(),
            )
            .limit(1)
        )
        return household

    async def resident_with_id_number(self, id_number: str) -> tuple[uuid.UUID, str] | None:
        """The resident id the registry last gave to a member with this ID number, and the grid
        of that member's household."""
        row = (
            await self._connection.execute(
                select(members.c.resident_id, households.c.grid_id)
                .join(households, households.c.id == members.c.household_id)
                .where(members.c.id_number_index == self._cipher.blind_index(id_number))
                .order_by(households.c.registered_at.desc())
                .limit(1)
            )
        ).one_or_none()
        return (row.resident_id, row.grid_id) if row is not None else None

    async def possible_duplicates(
        self, household: Household, *, exclude: uuid.UUID | None = None
    ) -> list[DuplicateCandidate]:
        """Active households sharing a member's ID number, or the address in the community."""
        reasons: dict[uuid.UUID, list[str]] = {}
        grid_of: dict[uuid.UUID, str] = {}
        indexes = [self._cipher.blind_index(m.id_number) for m in household.members if m.id_number]
        if indexes:
            rows = await self._connection.execute(
                select(members.c.household_id, households.c.grid_id)
                .join(households, households.c.id == members.c.household_id)
                .where(
                    members.c.id_number_index.in_(indexes),
                    households.c.status == Status.ACTIVE.value,
                )
                .distinct()
            )
            for row in rows:
                reasons.setdefault(row.household_id, []).append("id_number")
                grid_of[row.household_id] = row.grid_id
        rows = await self._connection.execute(
            select(households.c.id, households.c.grid_id).where(
                households.c.community_id == household.community_id,
                households.c.address_key == household.address_key,
                households.c.status == Status.ACTIVE.value,
            )
        )
        for row in rows:
            reasons.setdefault(row.id, []).append("address")
            grid_of[row.id] = row.grid_id
        return [
            DuplicateCandidate(household_id, tuple(why), grid_of[household_id])
            for household_id, why in sorted(reasons.items(), key=lambda item: str(item[0]))
            if household_id not in (household.id, exclude)
        ]

    async def add_history(
        self,
        household: Household,
        change: str,
        changed_by: str,
        summary: dict[str, Any],
        at: datetime,
    ) -> None:
        await self._connection.execute(
            insert(household_history).values(
                household_id=household.id,
                version=household.version,
                change=change,
                changed_at=at,
                changed_by=changed_by,
                summary=summary,
            )
        )

    async def history(self, household_id: uuid.UUID, page: PageRequest) -> Slice[HistoryEntry]:
        """The household's versions, oldest first."""
        mine = household_history.c.household_id == household_id
        total = int(
            await self._connection.scalar(
                select(func.count()).select_from(household_history).where(mine)
            )
            or 0
        )
        rows = await self._connection.execute(
            select(household_history)
            .where(mine)
            .order_by(household_history.c.version)
            .limit(page.limit)
            .offset(page.offset)
        )
        return Slice(
            [
                HistoryEntry(row.version, row.change, row.changed_at, row.changed_by, row.summary)
                for row in rows
            ],
            total,
            page,
        )


def household_of(
    row: Mapping[str, Any], members: Sequence[Member], cipher: FieldCipher
) -> Household:
    """A household from its row's columns (a SQLAlchemy row mapping or an asyncpg record)."""
    return Household(
        id=row["id"],
        community_id=row["community_id"],
        grid_id=row["grid_id"],
        address=row["address"],
        members=tuple(members),
        contact_email=row["contact_email"],
        registered_at=row["registered_at"],
        version=row["version"],
        compound_id=row["compound_id"],
        building_id=row["building_id"],
        contact_phone=cipher.decrypt_optional(row["contact_phone_enc"]),
        preferred_channels=tuple(row["preferred_channels"]),
        consent=Consent(
            integrity_scoring=row["consent_integrity_scoring"],
            notice_channels=tuple(row["consent_channels"]),
            recorded_by=row["consent_recorded_by"],
            recorded_at=row["consent_recorded_at"],
        ),
        status=Status(row["status"]),
        deregistered_at=row["deregistered_at"],
        deregistration_reason=row["deregistration_reason"],
    )


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class PlaceRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add_community(self, community: Community) -> bool:
        if await self.community(community.id) is not None:
            return False
        await self._connection.execute(
            insert(communities).values(
                id=community.id, name=community.name, time_zone=community.time_zone
            )
        )
        return True

    async def community(self, community_id: str, *, for_update: bool = False) -> Community | None:
        query = select(communities).where(communities.c.id == community_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).one_or_none()
        return Community(row.id, row.name, row.time_zone) if row else None

    async def save_community(self, community: Community) -> None:
        await self._connection.execute(
            update(communities)
            .where(communities.c.id == community.id)
            .values(name=community.name, time_zone=community.time_zone)
        )

    async def list_communities(self, page: PageRequest) -> Slice[Community]:
        total = int(
            await self._connection.scalar(select(func.count()).select_from(communities)) or 0
        )
        rows = await self._connection.execute(
            select(communities).order_by(communities.c.id).limit(page.limit).offset(page.offset)
        )
        return Slice([Community(r.id, r.name, r.time_zone) for r in rows], total, page)

    async def add_grid(self, grid: Grid) -> bool:
        if await self.grid(grid.id) is not None:
            return False
        await self._connection.execute(
            insert(grids).values(
                id=grid.id,
                community_id=grid.community_id,
                name=grid.name,
                worker_id=grid.worker_id,
                worker_name=grid.worker_name,
            )
        )
        return True

    async def set_grid_worker(self, grid: Grid) -> None:
        await self._connection.execute(
            update(grids)
            .where(grids.c.id == grid.id)
            .values(worker_id=grid.worker_id, worker_name=grid.worker_name)
        )

    async def grid(self, grid_id: str, *, for_update: bool = False) -> Grid | None:
        query = select(grids).where(grids.c.id == grid_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).one_or_none()
        return (
            Grid(row.id, row.community_id, row.name, row.worker_id, row.worker_name)
            if row
            else None
        )

    async def list_grids(
        self, community_id: str | None, page: PageRequest, grid_ids: frozenset[str] | None = None
    ) -> Slice[Grid]:
        conditions = []
        if community_id:
            conditions.append(grids.c.community_id == community_id)
        if grid_ids is not None:
            conditions.append(grids.c.id.in_(sorted(grid_ids)))
        count = select(func.count()).select_from(grids).where(*conditions)
        query = select(grids).where(*conditions).order_by(grids.c.id)
        total = int(await self._connection.scalar(count) or 0)
        rows = await self._connection.execute(query.limit(page.limit).offset(page.offset))
        return Slice(
            [Grid(r.id, r.community_id, r.name, r.worker_id, r.worker_name) for r in rows],
            total,
            page,
        )

    async def add_compound(self, compound: Compound) -> bool:
        if await self.compound(compound.id) is not None:
            return False
        await self._connection.execute(
            insert(compounds).values(
                id=compound.id,
                community_id=compound.community_id,
                grid_id=compound.grid_id,
                name=compound.name,
                address=compound.address,
                property_manager_id=compound.property_manager_id,
            )
        )
        return True

    async def compound(self, compound_id: str, *, for_update: bool = False) -> Compound | None:
        query = select(compounds).where(compounds.c.id == compound_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).one_or_none()
        return _compound(row) if row else None

    async def compounds_by_id(self, ids: Sequence[str]) -> list[Compound]:
        rows = await self._connection.execute(select(compounds).where(compounds.c.id.in_(ids)))
        return [_compound(row) for row in rows]

    async def list_compounds(
        self,
        community_id: str | None,
        grid_id: str | None,
        page: PageRequest,
        grid_ids: frozenset[str] | None = None,
        managers: frozenset[uuid.UUID] = frozenset(),
    ) -> Slice[Compound]:
        """With `grid_ids`, the compounds in those grids or managed by one of `managers`."""
        conditions = []
        if community_id:
            conditions.append(compounds.c.community_id == community_id)
        if grid_id:
            conditions.append(compounds.c.grid_id == grid_id)
        if grid_ids is not None:
            conditions.append(
                or_(
                    compounds.c.grid_id.in_(sorted(grid_ids)),
                    compounds.c.property_manager_id.in_(sorted(managers)),
                )
            )
        count = select(func.count()).select_from(compounds).where(*conditions)
        total = int(await self._connection.scalar(count) or 0)
        rows = await self._connection.execute(
            select(compounds)
            .where(*conditions)
            .order_by(compounds.c.id)
            .limit(page.limit)
            .offset(page.offset)
        )
        return Slice([_compound(row) for row in rows], total, page)

    async def set_property_manager(
        self, compound_ids: Sequence[str], manager_id: uuid.UUID | None
    ) -> None:
        if compound_ids:
            await self._connection.execute(
                update(compounds)
                .where(compounds.c.id.in_(compound_ids))
                .values(property_manager_id=manager_id)
            )

    async def add_building(self, building: Building) -> bool:
        if await self.building(building.id) is not None:
            return False
        await self._connection.execute(
            insert(buildings).values(
                id=building.id, compound_id=building.compound_id, name=building.name
            )
        )
        return True

    async def building(self, building_id: str) -> Building | None:
        row = (
            await self._connection.execute(select(buildings).where(buildings.c.id == building_id))
        ).one_or_none()
        return Building(row.id, row.compound_id, row.name) if row else None

    async def buildings_of(self, compound_id: str) -> list[Building]:
        rows = await self._connection.execute(
            select(buildings).where(buildings.c.compound_id == compound_id).order_by(buildings.c.id)
        )
        return [Building(r.id, r.compound_id, r.name) for r in rows]


def _compound(row: Any) -> Compound:
    return Compound(
        id=row.id,
        community_id=row.community_id,
        grid_id=row.grid_id,
        name=row.name,
        address=row.address,
        property_manager_id=row.property_manager_id,
    )


class OrganisationRepository:
    def __init__(self, connection: AsyncConnection, cipher: FieldCipher) -> None:
        self._connection = connection
        self._cipher = cipher

    def _row(self, organisation: Organisation) -> dict[str, Any]:
        return {
            "kind": organisation.kind.value,
            "name": organisation.name,
            "community_id": organisation.community_id,
            "grid_id": organisation.grid_id,
            "contact_email": organisation.contact.email,
            "contact_phone_enc": self._cipher.encrypt_optional(organisation.contact.phone),
            "preferred_channels": list(organisation.contact.preferred_channels),
            "version": organisation.version,
        }

    async def add(self, organisation: Organisation) -> None:
        await self._connection.execute(
            insert(organisations).values(
                id=organisation.id,
                registered_at=organisation.registered_at,
                **self._row(organisation),
            )
        )
        await self._write_links(organisation)

    async def save(self, organisation: Organisation) -> bool:
        result = await self._connection.execute(
            update(organisations)
            .where(
                organisations.c.id == organisation.id,
                organisations.c.version == organisation.version - 1,
            )
            .values(**self._row(organisation))
        )
        if result.rowcount != 1:
            return False
        await self._connection.execute(
            update(compounds)
            .where(
                compounds.c.property_manager_id == organisation.id,
                compounds.c.id.not_in(organisation.compound_ids),
            )
            .values(property_manager_id=None)
        )
        await self._connection.execute(
            delete(frontage_segments).where(
                frontage_segments.c.organisation_id == organisation.id,
                frontage_segments.c.id.not_in(organisation.frontage_segments),
            )
        )
        await self._write_links(organisation)
        return True

    async def _write_links(self, organisation: Organisation) -> None:
        if organisation.compound_ids:
            await self._connection.execute(
                update(compounds)
                .where(compounds.c.id.in_(organisation.compound_ids))
                .values(property_manager_id=organisation.id)
            )
        for segment in organisation.frontage_segments:
            changed = await self._connection.execute(
                update(frontage_segments)
                .where(frontage_segments.c.id == segment)
                .values(organisation_id=organisation.id)
            )
            if changed.rowcount == 0:
                await self._connection.execute(
                    insert(frontage_segments).values(id=segment, organisation_id=organisation.id)
                )

    async def holders(
        self, compound_ids: Sequence[str], segments: Sequence[str]
    ) -> dict[uuid.UUID, tuple[set[str], set[str]]]:
        """Who holds these compounds and segments now: organisation → (compounds, segments)."""
        held: dict[uuid.UUID, tuple[set[str], set[str]]] = {}
        if compound_ids:
            rows = await self._connection.execute(
                select(compounds.c.id, compounds.c.property_manager_id).where(
                    compounds.c.id.in_(compound_ids), compounds.c.property_manager_id.is_not(None)
                )
            )
            for row in rows:
                held.setdefault(row.property_manager_id, (set(), set()))[0].add(row.id)
        if segments:
            rows = await self._connection.execute(
                select(frontage_segments).where(frontage_segments.c.id.in_(segments))
            )
            for row in rows:
                held.setdefault(row.organisation_id, (set(), set()))[1].add(row.id)
        return held

    async def get(
        self, organisation_id: uuid.UUID, *, for_update: bool = False
    ) -> Organisation | None:
        query = select(organisations).where(organisations.c.id == organisation_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).one_or_none()
        if row is None:
            return None
        return (await self._hydrate([row]))[0]

    async def _hydrate(self, rows: Sequence[Any]) -> list[Organisation]:
        ids = [row.id for row in rows]
        compounds_of: dict[uuid.UUID, list[str]] = {i: [] for i in ids}
        segments_of: dict[uuid.UUID, list[str]] = {i: [] for i in ids}
        if ids:
            for c in await self._connection.execute(
                select(compounds.c.id, compounds.c.property_manager_id)
                .where(compounds.c.property_manager_id.in_(ids))
                .order_by(compounds.c.id)
            ):
                compounds_of[c.property_manager_id].append(c.id)
            for s in await self._connection.execute(
                select(frontage_segments)
                .where(frontage_segments.c.organisation_id.in_(ids))
                .order_by(frontage_segments.c.id)
            ):
                segments_of[s.organisation_id].append(s.id)
        return [
            Organisation(
                id=row.id,
                kind=OrganisationKind(row.kind),
                name=row.name,
                community_id=row.community_id,
                grid_id=row.grid_id,
                compound_ids=tuple(compounds_of[row.id]),
                frontage_segments=tuple(segments_of[row.id]),
                contact=Contact(
                    row.contact_email,
                    self._cipher.decrypt_optional(row.contact_phone_enc),
                    tuple(row.preferred_channels),
                ),
                registered_at=row.registered_at,
                version=row.version,
            )
            for row in rows
        ]

    async def search(
        self,
        *,
        kind: OrganisationKind | None,
        community_id: str | None,
        grid_id: str | None,
        name: str | None,
        page: PageRequest,
        grid_ids: frozenset[str] | None = None,
        organisation_ids: frozenset[uuid.UUID] = frozenset(),
    ) -> Slice[Organisation]:
        """With `grid_ids`, the organisations in those grids or among `organisation_ids`."""
        conditions: list[Any] = []
        if grid_ids is not None:
            conditions.append(
                or_(
                    organisations.c.grid_id.in_(sorted(grid_ids)),
                    organisations.c.id.in_(sorted(organisation_ids)),
                )
            )
        if kind is not None:
            conditions.append(organisations.c.kind == kind.value)
        if community_id:
            conditions.append(organisations.c.community_id == community_id)
        if grid_id:
            conditions.append(organisations.c.grid_id == grid_id)
        if name:
            conditions.append(organisations.c.name.like(f"%{_escaped(name.strip())}%", escape="\\"))
        total = int(
            await self._connection.scalar(
                select(func.count()).select_from(organisations).where(*conditions)
            )
            or 0
        )
        rows = (
            await self._connection.execute(
                select(organisations)
                .where(*conditions)
                .order_by(organisations.c.registered_at, organisations.c.id)
                .limit(page.limit)
                .offset(page.offset)
            )
        ).all()
        return Slice(await self._hydrate(rows), total, page)
