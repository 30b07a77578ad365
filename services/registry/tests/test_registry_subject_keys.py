"""Per-subject keys (crypto-shredding) on SQLite and PostgreSQL: made on first use, encrypted at
rest, destroyed for good; events seal each subject's personal data under its key; only the
`key_reader` role reads a key, a destroyed one is 410."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, select
from typer.testing import CliRunner

from conftest import MigratedDatabase
from linli.cli import app as cli
from linli_registry.adapters import tables
from linli_registry.adapters.subject_keys import SubjectKeys
from linli_registry.app import DEFINITION, build_use_cases, create_app
from linli_registry.domain.household import HEAD, Contact, Household, Member
from linli_registry.domain.organisation import OrganisationKind
from linli_registry.service import UseCases
from linli_registry.service.subject_keys import SubjectKeyDestroyed
from linli_registry.settings import RegistrySettings
from linli_shared.clock import FixedClock, SystemClock
from linli_shared.contracts import CATALOGUE
from linli_shared.contracts.base import EventData
from linli_shared.contracts.registry import (
    HouseholdMembersChanged,
    HouseholdRegistered,
    OrganisationRegistered,
)
from linli_shared.crypto import SealBroken, Sealer
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.messaging.envelope import Envelope
from tests.support.api import api_client, assert_problem
from tests.support.grid_scope import bearer, bearer_of


async def _household(registry: UseCases, address: str = "幸福路 1 号") -> Household:
    return await registry.registration.register_household(
        community_id="c-xingfu",
        grid_id="g-07",
        address=address,
        members=[Member("张三", HEAD), Member("李四", "spouse")],
        contact_email="zhang@example.com",
        contact_phone="13812345678",
        allow_duplicate=True,
    )


async def _events(database: Database) -> list[EventData]:
    async with database.connect() as connection:
        payloads = await connection.scalars(select(tables.outbox.c.payload).order_by("seq"))
        return [Envelope.from_json(p).parse(CATALOGUE) for p in payloads]


def _keys(database: Database, clock: FixedClock) -> SubjectKeys:
    return SubjectKeys(database, RegistrySettings().cipher(), clock)


async def _key(registry: UseCases, subject: uuid.UUID) -> str:
    key = (await registry.subject_keys.key_of(subject)).key
    assert key is not None
    return key


async def test_each_household_and_resident_gets_a_key_of_its_own_kept_encrypted_at_rest(
    registry: UseCases, database: Database, now: datetime
) -> None:
    household = await _household(registry)
    residents = [m.resident_id for m in household.members]

    async with database.connect() as connection:
        rows = {r.subject_id: r for r in await connection.execute(select(tables.subject_keys))}
    assert set(rows) == {household.id, *residents}
    assert {rows[s].kind for s in residents} == {"resident"}
    assert rows[household.id].kind == "household"
    keys = {subject: await _key(registry, subject) for subject in rows}
    assert len(set(keys.values())) == 3  # one key per subject
    for subject, row in rows.items():
        assert keys[subject] not in row.key_enc  # only encrypted under the registry's key ring
        assert row.created_at == now and row.destroyed_at is None


async def test_a_subject_keeps_its_key_across_its_events(
    registry: UseCases, database: Database
) -> None:
    household = await _household(registry)
    before = await _key(registry, household.id)
    changed = await registry.changes.move_household(
        household.id,
        version=1,
        grid_id="g-07",
        address="幸福路 2 号",
        compound_id=None,
        building_id=None,
        changed_by="staff-1",
    )

    assert await _key(registry, changed.id) == before
    moved = (await _events(database))[-1]
    assert moved.model_dump()["address"] == ""
    opened = Sealer([before]).open(str(household.id), moved.model_dump()["address_sealed"])
    assert opened == {"address": "幸福路 2 号"}


async def test_events_carry_no_personal_data_in_clear(
    registry: UseCases, database: Database
) -> None:
    household = await _household(registry)
    await registry.organisations.register_organisation(
        kind=OrganisationKind.SHOP,
        name="好邻居便利店",
        community_id="c-xingfu",
        grid_id="g-07",
        compound_ids=[],
        frontage_segments=[],
        contact=Contact("shop@example.cn", "13700000000", ("email", "sms")),
    )

    outbox = "".join(e.model_dump_json() for e in await _events(database))
    for personal in ("张三", "李四", "幸福路 1 号", "zhang@example.com", "13812345678"):
        assert personal not in outbox
    for personal in ("shop@example.cn", "13700000000"):
        assert personal not in outbox
    registered, organisation = await _events(database)
    assert isinstance(registered, HouseholdRegistered)
    assert isinstance(organisation, OrganisationRegistered)
    head = registered.members[0]
    assert head.resident_id == household.members[0].resident_id
    assert head.name_sealed is not None and head.resident_id is not None
    opened = Sealer([await _key(registry, head.resident_id)]).open(
        str(head.resident_id), head.name_sealed
    )
    assert opened == {"name": "张三"}
    assert organisation.contact.subject_sealed is not None
    opened = Sealer([await _key(registry, organisation.organisation_id)]).open(
        str(organisation.organisation_id), organisation.contact.subject_sealed
    )
    assert opened == {"email": "shop@example.cn", "phone": "13700000000"}


async def test_a_sealed_value_copied_into_another_subjects_event_does_not_open(
    registry: UseCases, database: Database
) -> None:
    first = await _household(registry, "幸福路 1 号")
    second = await _household(registry, "幸福路 9 号")
    registered = await _events(database)
    assert isinstance(registered[0], HouseholdRegistered)
    sealed = registered[0].address_sealed
    assert sealed is not None

    with pytest.raises(SealBroken):  # under the other household's key
        Sealer([await _key(registry, second.id)]).open(str(second.id), sealed)
    with pytest.raises(SealBroken):  # and bound to the first even by whoever holds its key
        Sealer([await _key(registry, first.id)]).open(str(second.id), sealed)


async def test_destroying_a_key_keeps_only_that_and_when_it_was_destroyed(
    registry: UseCases, database: Database, clock: FixedClock, now: datetime
) -> None:
    household = await _household(registry)
    keys = _keys(database, clock)

    destroyed = await keys.destroy(household.id, "household")
    clock.set(now + timedelta(hours=1))
    again = await keys.destroy(household.id, "household")

    assert destroyed.destroyed and destroyed.key is None and destroyed.destroyed_at == now
    assert again == destroyed  # idempotent: the first destruction's time stays
    async with database.connect() as connection:
        row = (
            await connection.execute(
                select(tables.subject_keys).where(tables.subject_keys.c.subject_id == household.id)
            )
        ).one()
    assert (row.kind, row.key_enc, row.destroyed_at) == ("household", None, now)
    with pytest.raises(SubjectKeyDestroyed) as gone:
        await registry.subject_keys.key_of(household.id)
    assert gone.value.status == 410
    resident = household.members[0].resident_id
    assert resident is not None
    assert (await registry.subject_keys.key_of(resident)).key  # the others' keys stay


async def test_a_destroyed_subject_never_gets_a_key_again_and_its_data_stop_travelling(
    registry: UseCases, database: Database, clock: FixedClock
) -> None:
    household = await _household(registry)
    erased, kept = household.members
    assert erased.resident_id is not None and kept.resident_id is not None
    await _keys(database, clock).destroy(erased.resident_id, "resident")

    await registry.changes.change_members(
        household.id,
        version=1,
        members=list(household.members),
        changed_by="staff-1",
        allow_duplicate=True,
    )

    changed = (await _events(database))[-1]
    assert isinstance(changed, HouseholdMembersChanged)
    by_resident = {m.resident_id: m for m in changed.members}
    assert by_resident[erased.resident_id].name_sealed is None
    assert by_resident[erased.resident_id].name == ""
    assert by_resident[kept.resident_id].name_sealed is not None
    with pytest.raises(SubjectKeyDestroyed):
        await registry.subject_keys.key_of(erased.resident_id)


async def test_a_subject_that_never_had_a_key_is_recorded_destroyed(
    registry: UseCases, database: Database, clock: FixedClock
) -> None:
    never = uuid.uuid4()
    with pytest.raises(NotFound):
        await registry.subject_keys.key_of(never)

    await _keys(database, clock).destroy(never, "resident")

    assert await _keys(database, clock).keys_for({never: "resident"}) == {never: None}
    with pytest.raises(SubjectKeyDestroyed):
        await registry.subject_keys.key_of(never)


async def test_two_first_uses_at_once_agree_on_one_key(
    database: Database, clock: FixedClock
) -> None:
    subject = uuid.uuid4()
    first, second = await asyncio.gather(
        _keys(database, clock).keys_for({subject: "household"}),
        _keys(database, clock).keys_for({subject: "household"}),
    )
    assert first == second and first[subject] is not None


# --- the route ------------------------------------------------------------------------------


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(create_app(RegistrySettings(database_url=database_url))) as client:
        yield client


async def test_only_the_key_reader_reads_a_subject_key_not_even_an_admin(
    api: httpx.AsyncClient, registry: UseCases, database: Database
) -> None:
    household = await _household(registry)
    url = f"/v1/subject-keys/{household.id}"

    answer = await api.get(url, headers=bearer("key_reader", subject="notify-worker"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["key"] == await _key(registry, household.id)
    assert answer.json()["kind"] == "household"
    assert answer.headers["cache-control"] == "no-store"
    for roles in (["admin"], ["community_staff"], ["service"], ["admin", "service"]):
        assert_problem(await api.get(url, headers=bearer_of(roles)), 403, "forbidden")

    async with database.connect() as connection:
        audit = (
            await connection.execute(
                select(tables.audit).where(tables.audit.c.actor == "notify-worker")
            )
        ).one()
    assert audit.action == "personal-data-read"


async def test_a_destroyed_key_is_410_gone_and_an_unknown_one_404(
    api: httpx.AsyncClient, registry: UseCases, database: Database, clock: FixedClock
) -> None:
    household = await _household(registry)
    await _keys(database, clock).destroy(household.id, "household")
    reader = bearer("key_reader")

    destroyed = await api.get(f"/v1/subject-keys/{household.id}", headers=reader)
    gone = assert_problem(destroyed, 410, "subject-key-destroyed")
    assert "key" not in gone
    unknown = await api.get(f"/v1/subject-keys/{uuid.uuid4()}", headers=reader)
    assert_problem(unknown, 404, "not-found")
    malformed = await api.get("/v1/subject-keys/not-an-id", headers=reader)
    assert_problem(malformed, 422, "validation-error")


async def test_several_keys_are_read_at_once_only_by_the_key_reader_and_audited_once(
    api: httpx.AsyncClient, registry: UseCases, database: Database, clock: FixedClock
) -> None:
    household = await _household(registry)
    head, spouse = (m.resident_id for m in household.members)
    assert head is not None and spouse is not None
    await _keys(database, clock).destroy(spouse, "resident")
    unknown = uuid.uuid4()
    asked = [household.id, head, spouse, unknown, head]  # a repeated subject is answered once
    params = {"subject_id": [str(subject) for subject in asked]}

    answer = await api.get(
        "/v1/subject-keys", params=params, headers=bearer("key_reader", subject="notify-worker")
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert [(k["subject_id"], k["kind"], k["key"]) for k in body["keys"]] == [
        (str(household.id), "household", await _key(registry, household.id)),
        (str(head), "resident", await _key(registry, head)),
    ]
    assert [(d["subject_id"], d["kind"]) for d in body["destroyed"]] == [(str(spouse), "resident")]
    assert "key" not in body["destroyed"][0]
    assert body["unknown"] == [str(unknown)]
    for roles in (["admin"], ["community_staff"], ["service"], ["admin", "service"]):
        refused = await api.get("/v1/subject-keys", params=params, headers=bearer_of(roles))
        assert_problem(refused, 403, "forbidden")

    async with database.connect() as connection:
        audit = (
            await connection.execute(
                select(tables.audit).where(tables.audit.c.actor == "notify-worker")
            )
        ).one()
    assert (audit.action, audit.resource) == ("personal-data-read", "subject-keys")
    assert audit.details["subjects"] == [str(s) for s in (household.id, head, spouse, unknown)]


async def test_a_read_of_several_keys_is_bounded(api: httpx.AsyncClient) -> None:
    reader = bearer("key_reader")
    fifty = [str(uuid.uuid4()) for _ in range(50)]
    answer = await api.get("/v1/subject-keys", params={"subject_id": fifty}, headers=reader)
    assert answer.status_code == 200 and len(answer.json()["unknown"]) == 50

    too_many = {"subject_id": [*fifty, str(uuid.uuid4())]}
    refused = await api.get("/v1/subject-keys", params=too_many, headers=reader)
    body = assert_problem(refused, 422, "validation-error")
    assert [e["field"] for e in body["errors"]] == ["query.subject_id"]
    none = await api.get("/v1/subject-keys", headers=reader)
    assert_problem(none, 422, "validation-error")
    malformed = await api.get("/v1/subject-keys?subject_id=not-an-id", headers=reader)
    assert_problem(malformed, 422, "validation-error")


async def test_the_keys_of_several_subjects_are_read_in_one_statement(
    registry: UseCases, database: Database, clock: FixedClock
) -> None:
    household = await _household(registry)
    subjects = [household.id, *(m.resident_id for m in household.members if m.resident_id)]
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        found = await _keys(database, clock).find_all(subjects)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert set(found) == set(subjects)
    assert len([s for s in statements if "subject_keys" in s]) == 1


# --- after restoring a backup -----------------------------------------------------------------


async def test_keys_destroyed_since_a_backup_are_destroyed_again_in_the_restored_database(
    any_migrated_database: MigratedDatabase,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`destroyed-keys` lists them as `destroy-keys --file` reads them; the restored database
    is a copy of the live one from before the erasure."""
    restored_url = await any_migrated_database(DEFINITION)
    live, restored = Database(database_url), Database(restored_url)
    try:
        household = await _household(build_use_cases(live, RegistrySettings()))
        resident = household.members[1].resident_id
        assert resident is not None
        async with live.connect() as connection:
            rows = [dict(r._mapping) for r in await connection.execute(select(tables.subject_keys))]
        async with restored.transaction() as connection:  # the backup, taken before
            await connection.execute(tables.subject_keys.insert(), rows)
        await SubjectKeys(live, RegistrySettings().cipher(), SystemClock()).destroy(
            resident, "resident"
        )

        monkeypatch.setenv("LINLI_REGISTRY_DATABASE_URL", database_url)
        listed = await asyncio.to_thread(CliRunner().invoke, cli, ["registry", "destroyed-keys"])
        assert listed.exit_code == 0, listed.output
        assert listed.output.startswith(f"resident:{resident} ")
        erased = tmp_path / "erased.txt"
        erased.write_text("# kept outside the database\n" + listed.output)
        monkeypatch.setenv("LINLI_REGISTRY_DATABASE_URL", restored_url)
        again = await asyncio.to_thread(
            CliRunner().invoke, cli, ["registry", "destroy-keys", "--file", str(erased)]
        )
        assert again.exit_code == 0, again.output
        assert "registry: 1 subject key(s) destroyed" in again.output

        keys = build_use_cases(restored, RegistrySettings()).subject_keys
        with pytest.raises(SubjectKeyDestroyed):
            await keys.key_of(resident)
        assert (await keys.key_of(household.id)).key  # the others stay
        wrong = await asyncio.to_thread(
            CliRunner().invoke, cli, ["registry", "destroy-keys", f"person:{resident}"]
        )
        assert wrong.exit_code == 2 and "person" in wrong.output  # the refused one is named
    finally:
        await live.dispose()
        await restored.dispose()
