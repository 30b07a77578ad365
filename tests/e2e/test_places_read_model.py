"""Inspections learns the registry's places from its events, over the real Kafka.

The registry's use cases write their events to the outbox; the registry worker relays them to
Kafka; the inspections worker consumes them into its read model: a community's time zone, a
compound's grid and who manages it (the compound's own events decide that).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select

from linli_inspections import app as inspections_app
from linli_inspections.adapters import tables as inspections_tables
from linli_inspections.adapters.repository import PlaceReadModel
from linli_inspections.settings import InspectionsSettings
from linli_registry import app as registry_app
from linli_registry.domain.household import Contact
from linli_registry.domain.organisation import OrganisationKind
from linli_registry.service import UseCases
from linli_registry.settings import RegistrySettings
from linli_shared.db import Database
from linli_shared.messaging.worker import Worker
from linli_shared.migrations import upgrade
from linli_shared.settings import PlatformSettings
from tests.support.infra import KafkaService
from tests.support.polling import eventually

CreateDatabase = Callable[[str], Awaitable[str]]


@pytest.fixture
async def databases(create_database: CreateDatabase) -> tuple[str, str]:
    registry_url = await create_database("linli_registry")
    inspections_url = await create_database("linli_inspections")
    await asyncio.to_thread(upgrade, registry_app.DEFINITION.migrations_dir, registry_url)
    await asyncio.to_thread(upgrade, inspections_app.DEFINITION.migrations_dir, inspections_url)
    return registry_url, inspections_url


@pytest.fixture
async def workers(
    databases: tuple[str, str], kafka: KafkaService, kafka_namespace: str
) -> AsyncIterator[None]:
    platform = PlatformSettings(
        kafka_bootstrap_servers=kafka.bootstrap, kafka_namespace=kafka_namespace
    )
    registry_url, inspections_url = databases
    running: list[tuple[Worker, asyncio.Task[None]]] = []
    for worker in (
        registry_app.create_worker(RegistrySettings(database_url=registry_url, platform=platform)),
        inspections_app.create_worker(
            InspectionsSettings(database_url=inspections_url, platform=platform)
        ),
    ):
        running.append((worker, asyncio.create_task(worker.run())))
    yield
    for worker, task in running:
        worker.stop_event.set()
        await task


async def test_inspections_keeps_the_registry_places_it_needs(
    databases: tuple[str, str], workers: None
) -> None:
    registry_url, inspections_url = databases
    registry_database = Database(registry_url)
    inspections_database = Database(inspections_url)
    registry = registry_app.build_use_cases(registry_database, RegistrySettings())
    try:
        await registry.territory.create_community(
            id="harbour", name="Harbour", time_zone="America/New_York"
        )
        await registry.territory.create_grid(
            id="g-h1", community_id="harbour", name="Quay", worker_id="w-1", worker_name="Lin"
        )
        await registry.territory.create_compound(
            id="cp-h1", community_id="harbour", grid_id="g-h1", name="Quay Court", address="1 Quay"
        )
        first = await _manager(registry, "First Estates", "first")
        await registry.territory.change_community(
            "harbour", name="Harbour", time_zone="America/Chicago"
        )
        second = await _manager(registry, "Second Estates", "second")

        async def compound_target() -> Any:
            async with inspections_database.connect() as connection:
                row = (
                    await connection.execute(
                        select(inspections_tables.targets).where(
                            inspections_tables.targets.c.kind == "compound",
                            inspections_tables.targets.c.id == "cp-h1",
                        )
                    )
                ).one_or_none()
            return row if row is not None and row.subject_id == second.id else None

        target = await eventually(compound_target, "the compound managed by the second manager")
        assert (target.grid_id, target.community_id) == ("g-h1", "harbour")
        assert first.id != second.id

        async def zone() -> str | None:
            async with inspections_database.connect() as connection:
                found = await PlaceReadModel(connection).time_zone_of("harbour")
            return found if found == "America/Chicago" else None

        await eventually(zone, "the community's changed time zone")
        async with inspections_database.connect() as connection:
            places = PlaceReadModel(connection)
            assert await places.time_zone_of_grid("g-h1") == "America/Chicago"
            compound = await places.compound("cp-h1")
        assert compound is not None and compound.property_manager_id == second.id
    finally:
        await registry_database.dispose()
        await inspections_database.dispose()


async def _manager(registry: UseCases, name: str, mailbox: str) -> Any:
    return await registry.organisations.register_organisation(
        kind=OrganisationKind.PROPERTY_MANAGER,
        name=name,
        community_id="harbour",
        grid_id="g-h1",
        compound_ids=["cp-h1"],
        frontage_segments=[],
        contact=Contact(f"{mailbox}.{uuid.uuid4().hex[:6]}@example.org", None, ("email",)),
    )
