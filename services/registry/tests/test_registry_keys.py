"""Key rotation (on SQLite and PostgreSQL): data written under key A, keys become [B, A], the job
re-encrypts, keys become [B] alone: every row still decrypts. Running it again is harmless."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from typer.testing import CliRunner

from linli.cli import app as cli
from linli_registry.adapters import tables
from linli_registry.app import build_use_cases, rotate_keys
from linli_registry.domain.household import HEAD, Contact, Household, Member
from linli_registry.domain.organisation import Organisation, OrganisationKind
from linli_registry.service import UseCases
from linli_registry.service.keys import KeyRotation
from linli_registry.settings import RegistrySettings
from linli_shared.crypto import DecryptionFailed, FieldCipher, generate_key
from linli_shared.db import Database

KEY_A, KEY_B = generate_key(), generate_key()
INDEX_KEY = "index-key-for-rotation-tests"
ID_NUMBERS = ["11010519491231002X", "110105198001010016", "110101199003074477"]


def _cipher(*keys: str) -> FieldCipher:
    return FieldCipher(list(keys), INDEX_KEY)


def _registry(database: Database, *keys: str) -> UseCases:
    settings = RegistrySettings(
        encryption_keys=SecretStr(",".join(keys)), blind_index_key=SecretStr(INDEX_KEY)
    )
    return build_use_cases(database, settings)


async def _written_under_a(database: Database) -> tuple[list[Household], Organisation]:
    registry = _registry(database, KEY_A)
    await registry.territory.create_community(
        id="xingfu", name="幸福社区", time_zone="Asia/Shanghai"
    )
    await registry.territory.create_grid(
        id="g-01", community_id="xingfu", name="一网格", worker_id=None, worker_name=None
    )
    households = [
        await registry.registration.register_household(
            community_id="xingfu",
            grid_id="g-01",
            address=f"幸福路 {i} 号",
            members=[
                Member("户主", HEAD, id_number=id_number, phone=f"1381234567{i}"),
                Member("家人", "child"),
            ],
            contact_email="family@example.cn",
            contact_phone=f"1391234567{i}",
        )
        for i, id_number in enumerate(ID_NUMBERS)
    ]
    organisation = await registry.organisations.register_organisation(
        kind=OrganisationKind.PROPERTY_MANAGER,
        name="安居物业",
        community_id="xingfu",
        grid_id="g-01",
        compound_ids=[],
        frontage_segments=[],
        contact=Contact("anju@example.cn", "13700000000", ("email", "sms")),
    )
    return households, organisation


async def _ciphertexts(database: Database) -> list[str]:
    async with database.connect() as connection:
        values = [
            *(await connection.scalars(select(tables.households.c.contact_phone_enc))),
            *(await connection.scalars(select(tables.members.c.id_number_enc))),
            *(await connection.scalars(select(tables.members.c.phone_enc))),
            *(await connection.scalars(select(tables.organisations.c.contact_phone_enc))),
            *(await connection.scalars(select(tables.subject_keys.c.key_enc))),
        ]
    return [value for value in values if value is not None]


async def test_rotation_lets_the_old_key_go(database: Database) -> None:
    households, organisation = await _written_under_a(database)
    before = await _ciphertexts(database)
    # Phones and ID numbers; and the subject keys: 3 households, 6 residents, 1 organisation.
    assert len(before) == 3 + 3 + 3 + 1 + 10

    report = await KeyRotation(database, _cipher(KEY_B, KEY_A), batch_size=2).run()
    assert report.rotated == {
        "households": 3,
        "members": 6,
        "organisations": 1,
        "subject_keys": 10,
        "access_requests": 0,
        "access_answers": 0,
    }
    assert report.examined == {
        "households": 3,
        "members": 3,
        "organisations": 1,
        "subject_keys": 10,
        "access_requests": 0,
        "access_answers": 0,
    }
    assert all(_cipher(KEY_B).is_current(value) for value in await _ciphertexts(database))

    again = await KeyRotation(database, _cipher(KEY_B, KEY_A), batch_size=2).run()
    assert again.total_rotated == 0  # nothing left to do
    assert again.examined == report.examined

    only_b = _registry(database, KEY_B)
    for household in households:
        assert await only_b.disclosure.get_household(household.id) == household
    assert await only_b.organisations.get_organisation(organisation.id) == organisation
    subject_key = await only_b.subject_keys.key_of(organisation.id)
    with pytest.raises(DecryptionFailed):  # and key A alone no longer reads anything
        await _registry(database, KEY_A).disclosure.get_household(households[0].id)
    with pytest.raises(DecryptionFailed):
        await _registry(database, KEY_A).subject_keys.key_of(organisation.id)
    assert subject_key.key is not None  # the subject's own key is unchanged by the rotation
    assert (await _registry(database, KEY_B).subject_keys.key_of(organisation.id)) == subject_key


async def test_a_rotation_stopped_half_way_resumes(database: Database) -> None:
    await _written_under_a(database)
    rotation = KeyRotation(database, _cipher(KEY_B, KEY_A), batch_size=1)

    class Stop(Exception):
        pass

    def stop_after_first_batch(table: str, rows: int) -> None:
        raise Stop

    with pytest.raises(Stop):
        await rotation.run(stop_after_first_batch)
    current = [_cipher(KEY_B).is_current(value) for value in await _ciphertexts(database)]
    assert current.count(True) == 1  # the first household's phone, committed before the stop

    resumed = await rotation.run()
    assert resumed.total_rotated == 20 - 1
    assert all(_cipher(KEY_B).is_current(value) for value in await _ciphertexts(database))


@pytest.fixture
def keys_b_then_a(database_url: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in _ENV}
    os.environ.update(
        {
            "LINLI_REGISTRY_DATABASE_URL": database_url,
            "LINLI_REGISTRY_ENCRYPTION_KEYS": f"{KEY_B},{KEY_A}",
            "LINLI_REGISTRY_BLIND_INDEX_KEY": INDEX_KEY,
        }
    )
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


_ENV = (
    "LINLI_REGISTRY_DATABASE_URL",
    "LINLI_REGISTRY_ENCRYPTION_KEYS",
    "LINLI_REGISTRY_BLIND_INDEX_KEY",
)


async def test_the_command_prints_its_counts(database: Database, keys_b_then_a: None) -> None:
    await _written_under_a(database)
    # `linli registry rotate-keys` runs its own event loop: give it a thread of its own.
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["registry", "rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "members: 3 row(s) examined, 6 value(s) re-encrypted" in result.output
    assert "subject_keys: 10 row(s) examined, 10 value(s) re-encrypted" in result.output
    assert "registry: 20 value(s) re-encrypted under the current key" in result.output
    second = await asyncio.to_thread(CliRunner().invoke, cli, ["registry", "rotate-keys"])
    assert "registry: 0 value(s) re-encrypted" in second.output
    assert (await rotate_keys(RegistrySettings())).total_rotated == 0
