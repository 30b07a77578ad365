"""Registry use cases on a freshly migrated database (SQLite and PostgreSQL); the migrations
against PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Table, func, select, text
from sqlalchemy.engine import Connection

from conftest import CreateDatabase, MigratedDatabase
from linli_registry.adapters import tables
from linli_registry.app import DEFINITION
from linli_registry.domain.household import HEAD, InvalidHousehold, Member
from linli_registry.service import UseCases
from linli_shared.contracts import CATALOGUE, HouseholdRegistered
from linli_shared.contracts.registry import SEALED_EMAIL
from linli_shared.crypto import Sealer
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.messaging.envelope import Envelope
from linli_shared.migrations import upgrade


async def _count(database: Database, table: Table) -> int:
    async with database.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(table)) or 0)


async def _opened(registry: UseCases, subject: uuid.UUID, sealed: str) -> dict[str, str | None]:
    key = (await registry.subject_keys.key_of(subject)).key
    assert key is not None
    return Sealer([key]).open(str(subject), sealed)


async def test_register_then_get_round_trips(registry: UseCases, now: datetime) -> None:
    members = [Member("张三", HEAD), Member("李四", "spouse"), Member("张小三", "child")]

    registered = await registry.registration.register_household(
        community_id="c-xingfu",
        grid_id="g-07",
        address="幸福路 1 号 2 栋 301",
        members=members,
        contact_email="zhang@example.com",
    )
    loaded = await registry.disclosure.get_household(registered.id)

    assert loaded == registered
    assert tuple(replace(m, resident_id=None) for m in loaded.members) == tuple(members)  # order
    assert all(m.resident_id is not None for m in loaded.members)
    assert loaded.registered_at == now


async def test_registration_writes_exactly_one_outbox_row(
    registry: UseCases, database: Database, now: datetime
) -> None:
    household = await registry.registration.register_household(
        community_id="c-xingfu",
        grid_id="g-07",
        address="幸福路 1 号",
        members=[Member("张三", HEAD)],
        contact_email="zhang@example.com",
    )

    async with database.connect() as connection:
        rows = (await connection.execute(select(tables.outbox))).all()
    assert len(rows) == 1
    row = rows[0]
    assert row.event_type == "linli.registry.household.registered.v1"
    assert row.topic == "linli.registry.v1"
    assert row.partition_key == str(household.id)
    assert row.published_at is None

    envelope = Envelope.from_json(row.payload)
    assert envelope.id == row.event_id
    assert envelope.type == HouseholdRegistered.event_type
    assert envelope.source == "/linli/registry"
    assert envelope.subject == str(household.id)
    event = envelope.parse(CATALOGUE)
    assert isinstance(event, HouseholdRegistered)
    assert event.household_id == household.id
    assert event.community_id == "c-xingfu"
    assert event.grid_id == "g-07"
    # Names, the address and the contact travel sealed for notify, each under its subject's key.
    assert [(m.name, m.relation) for m in event.members] == [("", HEAD)]
    resident = household.members[0].resident_id
    assert resident is not None and event.members[0].name_sealed is not None
    assert await _opened(registry, resident, event.members[0].name_sealed) == {"name": "张三"}
    assert event.address == "" and event.address_sealed is not None
    assert await _opened(registry, household.id, event.address_sealed) == {"address": "幸福路 1 号"}
    assert event.contact_email == SEALED_EMAIL
    assert event.contact is not None and event.contact.subject_sealed is not None
    opened = await _opened(registry, household.id, event.contact.subject_sealed)
    assert opened["email"] == "zhang@example.com"
    assert event.registered_at == now


async def test_each_registration_emits_its_own_event(
    registry: UseCases, database: Database
) -> None:
    ids = []
    for i in range(3):
        household = await registry.registration.register_household(
            community_id="c",
            grid_id="g",
            address=f"幸福路 {i} 号",
            members=[Member(f"户主{i}", HEAD)],
            contact_email=f"h{i}@example.com",
        )
        ids.append(str(household.id))

    async with database.connect() as connection:
        keys = (
            await connection.scalars(
                select(tables.outbox.c.partition_key).order_by(tables.outbox.c.seq)
            )
        ).all()
    assert list(keys) == ids


async def test_a_broken_rule_writes_nothing(registry: UseCases, database: Database) -> None:
    with pytest.raises(InvalidHousehold):
        await registry.registration.register_household(
            community_id="c",
            grid_id="g",
            address="幸福路 1 号",
            members=[Member("张三", HEAD), Member("李四", HEAD)],
            contact_email="zhang@example.com",
        )

    assert await _count(database, tables.households) == 0
    assert await _count(database, tables.members) == 0
    assert await _count(database, tables.outbox) == 0


async def test_unknown_household_is_not_found(registry: UseCases) -> None:
    with pytest.raises(NotFound):
        await registry.disclosure.get_household(uuid.uuid4())


def _drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, tables.metadata))


async def test_migrations_create_exactly_the_tables_the_code_uses(
    migrated_database: MigratedDatabase,
) -> None:
    database = Database(await migrated_database(DEFINITION))
    try:
        async with database.connect() as connection:
            assert await connection.run_sync(_drift) == []
    finally:
        await database.dispose()


async def test_the_resident_id_migration_gives_one_id_per_person(
    create_database: CreateDatabase,
) -> None:
    url = await create_database("linli_registry")
    await asyncio.to_thread(upgrade, DEFINITION.migrations_dir, url, "997eda1291e0")
    database = Database(url)
    try:
        async with database.transaction() as connection:
            for household, index in [(uuid.uuid4(), "same"), (uuid.uuid4(), "same")]:
                await connection.execute(
                    text(
                        "INSERT INTO households (id, community_id, grid_id, address, "
                        "contact_email, registered_at, version) "
                        "VALUES (:id, 'c', 'g', 'a', 'e@example.cn', now(), 1)"
                    ),
                    {"id": household},
                )
                for position, member_index in enumerate([index, None]):
                    await connection.execute(
                        text(
                            "INSERT INTO members (household_id, position, name, relation, "
                            "id_number_index) VALUES (:h, :p, 'n', 'head', :i)"
                        ),
                        {"h": household, "p": position, "i": member_index},
                    )
        await asyncio.to_thread(upgrade, DEFINITION.migrations_dir, url)
        async with database.connect() as connection:
            rows = (await connection.execute(select(tables.members))).all()
    finally:
        await database.dispose()
    same = {row.resident_id for row in rows if row.id_number_index == "same"}
    others = [row.resident_id for row in rows if row.id_number_index is None]
    assert len(same) == 1  # one person, two households
    assert len(set(others)) == 2 and not same & set(others)
