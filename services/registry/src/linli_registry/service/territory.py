"""The community's places: communities, grids (with their grid worker), compounds and their
buildings. Each creation and change is published with the place's whole state, in the same
transaction (outbox); places are never removed."""

from __future__ import annotations

from linli_registry.adapters.repository import PlaceRepository
from linli_registry.domain import places
from linli_registry.domain.places import Building, Community, Compound, Grid
from linli_registry.service import events
from linli_shared.clock import Clock
from linli_shared.db import Database
from linli_shared.errors import Conflict, NotFound
from linli_shared.messaging.outbox import Outbox
from linli_shared.pagination import PageRequest, Slice
from linli_shared.reach import EVERYWHERE, Reach
from linli_shared.rules import RuleViolation


class TerritoryUseCases:
    def __init__(
        self,
        database: Database,
        outbox: Outbox,
        clock: Clock,
        default_time_zone: str = places.DEFAULT_TIME_ZONE,
    ) -> None:
        self._database = database
        self._outbox = outbox
        self._clock = clock
        self._default_time_zone = default_time_zone

    # --- communities ----------------------------------------------------------------------------

    async def create_community(
        self, *, id: str, name: str, time_zone: str | None = None
    ) -> Community:
        community = places.community(id, name, time_zone or self._default_time_zone)
        async with self._database.transaction() as connection:
            if not await PlaceRepository(connection).add_community(community):
                raise Conflict(f"community {id} already exists")
            await self._outbox.add(
                connection, events.community_created(community, self._clock.now())
            )
        return community

    async def change_community(self, community_id: str, *, name: str, time_zone: str) -> Community:
        changed = places.community(community_id, name, time_zone)
        async with self._database.transaction() as connection:
            repository = PlaceRepository(connection)
            if await repository.community(community_id, for_update=True) is None:
                raise NotFound("community", community_id)
            await repository.save_community(changed)
            await self._outbox.add(connection, events.community_changed(changed, self._clock.now()))
        return changed

    async def communities(self, page: PageRequest) -> Slice[Community]:
        async with self._database.connect() as connection:
            return await PlaceRepository(connection).list_communities(page)

    # --- grids ----------------------------------------------------------------------------------

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
            await self._outbox.add(connection, events.grid_created(grid, self._clock.now()))
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
            await self._outbox.add(connection, events.grid_changed(changed, self._clock.now()))
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

    # --- compounds and buildings ----------------------------------------------------------------

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
            await self._outbox.add(connection, events.compound_created(compound, self._clock.now()))
        return compound

    async def get_compound(
        self, compound_id: str, reach: Reach = EVERYWHERE
    ) -> tuple[Compound, list[Building]]:
        async with self._database.connect() as connection:
            repository = PlaceRepository(connection)
            compound = await repository.compound(compound_id)
            if compound is None or not reach.covers(compound.grid_id, compound.property_manager_id):
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
                community_id, grid_id, page, reach.grids, reach.parties
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
                connection, events.building_created(building, compound, self._clock.now())
            )
        return building
