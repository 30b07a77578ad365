"""Organisations: property managers of compounds, shops and units with a frontage duty over
named street segments.

Registering or changing one names the version it was made against (stale: 409). A compound or
segment another organisation held moves to this one and the previous holder is published with
its shortened lists; each compound whose property manager changes is published too, so
inspections always knows who answers for a compound.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_registry.adapters.repository import OrganisationRepository, PlaceRepository
from linli_registry.adapters.subject_keys import SubjectKeys
from linli_registry.domain import organisation as rules
from linli_registry.domain.household import Contact
from linli_registry.domain.organisation import Organisation, OrganisationKind
from linli_registry.domain.subject_keys import SubjectKind
from linli_registry.service import events
from linli_shared.clock import Clock
from linli_shared.crypto import FieldCipher
from linli_shared.db import Database
from linli_shared.errors import Conflict, NotFound
from linli_shared.messaging.outbox import Outbox
from linli_shared.pagination import PageRequest, Slice
from linli_shared.reach import EVERYWHERE, Reach
from linli_shared.rules import RuleViolation


@dataclass(frozen=True)
class OrganisationsUseCases:
    _database: Database
    _outbox: Outbox
    _clock: Clock
    _cipher: FieldCipher
    _keys: SubjectKeys

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
        organisation = rules.register(
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
            await _check_compounds(connection, organisation, reach)
            repository = OrganisationRepository(connection, self._cipher)
            managers_before = await _managers(connection, organisation.compound_ids)
            taken_from = await self._take_over(connection, organisation)
            await repository.add(organisation)
            await self._announce_manager_changes(connection, managers_before, now)
            seals = await self._seals(organisation, *taken_from)
            await self._outbox.add(connection, events.organisation_registered(organisation, seals))
            for previous in taken_from:
                await self._outbox.add(
                    connection, events.organisation_changed(previous, now, seals)
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
            changed = rules.change(
                current,
                name=name,
                grid_id=grid_id,
                compound_ids=compound_ids,
                frontage_segments=frontage_segments,
                contact=contact,
            )
            await _check_compounds(connection, changed, reach)
            managers_before = await _managers(
                connection, {*current.compound_ids, *changed.compound_ids}
            )
            taken_from = await self._take_over(connection, changed)
            if not await repository.save(changed):
                raise Conflict(f"organisation {organisation_id} was changed meanwhile")
            await self._announce_manager_changes(connection, managers_before, now)
            seals = await self._seals(changed, *taken_from)
            await self._outbox.add(connection, events.organisation_changed(changed, now, seals))
            for previous in taken_from:
                await self._outbox.add(
                    connection, events.organisation_changed(previous, now, seals)
                )
        return changed

    async def _seals(self, *organisations: Organisation) -> events.Seals:
        subjects: dict[uuid.UUID, SubjectKind] = {o.id: "organisation" for o in organisations}
        return events.Seals(await self._keys.keys_for(subjects))

    async def get_organisation(
        self, organisation_id: uuid.UUID, reach: Reach = EVERYWHERE
    ) -> Organisation:
        async with self._database.connect() as connection:
            organisation = await OrganisationRepository(connection, self._cipher).get(
                organisation_id
            )
        if organisation is None or not reach.covers(organisation.grid_id, organisation.id):
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
                organisation_ids=reach.parties,
            )

    async def _announce_manager_changes(
        self, connection: AsyncConnection, before: dict[str, uuid.UUID | None], now: datetime
    ) -> None:
        """Each compound whose property manager changed is announced with its new state."""
        for compound in await PlaceRepository(connection).compounds_by_id(sorted(before)):
            if compound.property_manager_id != before[compound.id]:
                await self._outbox.add(connection, events.compound_changed(compound, now))

    async def _take_over(
        self, connection: AsyncConnection, organisation: Organisation
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
            holder = rules.release(holder, compounds=held_compounds, segments=held_segments)
            await repository.save(holder)
            changed.append(holder)
        return changed


async def _check_compounds(
    connection: AsyncConnection, organisation: Organisation, reach: Reach
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
            raise RuleViolation("compound_ids", f"compound {compound_id} is in another community")


async def _managers(
    connection: AsyncConnection, compound_ids: Iterable[str]
) -> dict[str, uuid.UUID | None]:
    found = await PlaceRepository(connection).compounds_by_id(sorted(compound_ids))
    return {c.id: c.property_manager_id for c in found}
