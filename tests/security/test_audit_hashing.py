"""What a reveal was asked with stays in the audit trail without the personal data in it.

The trail is append-only and kept 1095 days, past any erasure, so a searched name or ID number
must never be in it in clear: every query value is kept as its keyed hash under the service's
audit hash key, but for the harmless parameters a route declares (`audit_readable`); the name of
a parameter the route does not take is hashed too. An auditor still finds who searched for a
person, and when, by giving the value (`GET /v1/audit?searched=`). The registry's in-process
app, on SQLite and PostgreSQL; the table is read back row by row, as text.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from sqlalchemy import MetaData, create_engine

from conftest import MigratedDatabase
from linli.services import SERVICES
from linli_registry.app import DEFINITION, create_app
from linli_registry.settings import RegistrySettings
from linli_shared.audit import AUDIT_READABLE, HASHED, audit_table, query_parameters
from linli_shared.auth import mint_dev_token
from linli_shared.crypto import BlindIndex
from linli_shared.settings import DEV_AUDIT_HASH_KEY, PlatformSettings
from tests.support.api import api_client
from tests.support.scan import database_text

NAME = "赵敏"
OTHER = "孙悟空"
ID_NUMBER = "11010519491231002X"
PHONE = "13812345678"
ADDRESS = "光明路 8 号"
KEY = "an-audit-hash-key-of-this-test"
# Query parameters that can carry a person: none may be declared readable by any route.
PERSONAL = {"name", "address", "id_number", "id_tail", "phone", "email", "q", "search", "searched"}


def hashed(value: str, key: str = KEY) -> str:
    return HASHED + BlindIndex(key).of(value)


def headers(role: str = "community_staff", subject: str = "staff-li") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_dev_token(PlatformSettings(), subject, [role])}"}


@pytest.fixture
async def registry(
    any_migrated_database: MigratedDatabase,
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    url = await any_migrated_database(DEFINITION)
    settings = RegistrySettings.model_validate({"database_url": url, "audit_hash_key": KEY})
    async with api_client(create_app(settings), "registry") as client:
        created = await client.post(
            "/v1/households",
            headers=headers(),
            json={
                "community_id": "c1",
                "grid_id": "g1",
                "address": ADDRESS,
                "members": [{"name": NAME, "relation": "head", "id_number": ID_NUMBER}],
                "contact_email": "zhao@example.cn",
                "contact_phone": PHONE,
            },
        )
        assert created.status_code == 201, created.text
        yield client, url


async def audit_text(url: str) -> str:
    return (await database_text(url))["audit_log"]


async def reveals(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    trail = await client.get(
        "/v1/audit",
        params={"action": "personal-data-read", "limit": "200", **params},
        headers=headers("admin", "it-admin"),
    )
    assert trail.status_code == 200, trail.text
    items: list[dict[str, Any]] = trail.json()["items"]
    return items


async def test_a_search_by_a_residents_name_leaves_no_trace_of_it_in_the_audit_table(
    registry: tuple[httpx.AsyncClient, str],
) -> None:
    client, url = registry
    for params in (
        {"reveal": "true", "name": NAME, "grid_id": "g1", "limit": "10"},
        {"reveal": "true", "address": ADDRESS, "status": "active"},
        {"id_number": ID_NUMBER},
        {"reveal": "true", "id_tail": ID_NUMBER[-4:], "reason": "核对低保申请"},
    ):
        found = await client.get("/v1/households", params=params, headers=headers())
        assert found.status_code == 200, found.text
        assert found.json()["total"] == 1

    text = await audit_text(url)
    assert text.count("personal-data-read") == 4
    for personal in (NAME, ADDRESS, ID_NUMBER, ID_NUMBER[-4:]):
        assert personal not in text
    assert hashed(NAME) in text and hashed(ID_NUMBER) in text


async def test_the_hash_is_the_values_hmac_under_the_services_key_and_the_filters_stay_readable(
    registry: tuple[httpx.AsyncClient, str],
) -> None:
    client, _ = registry
    found = await client.get(
        "/v1/households",
        params={
            "reveal": "true",
            "name": NAME,
            "community_id": "c1",
            "grid_id": "g1",
            "status": "active",
            "offset": "0",
            "reason": "核对低保申请",
        },
        headers=headers(),
    )
    assert found.status_code == 200, found.text
    [entry] = await reveals(client)
    assert entry["details"]["query"] == {
        "reveal": "true",
        "name": hashed(NAME),
        "community_id": "c1",
        "grid_id": "g1",
        "status": "active",
        "offset": "0",
        "reason": "核对低保申请",
    }
    assert entry["details"]["query"]["name"] != hashed(NAME, DEV_AUDIT_HASH_KEY)


ODD_QUERIES = {
    "the-same-key-twice": ([("name", NAME), ("name", OTHER)], [NAME, OTHER]),
    "an-empty-value": ([("name", ""), ("address", NAME)], [NAME]),
    "a-10-kB-value": ([("name", NAME * 1710)], [NAME]),
    "unicode": ([("name", f"{NAME}\u0301\U0001f600"), ("address", "ß\u200d𠀀")], [NAME, "𠀀"]),
    "a-readable-filter-given-twice": ([("grid_id", "g1"), ("grid_id", NAME)], [NAME]),
    "a-readable-filter-on-a-refused-query": ([("grid_id", NAME), ("limit", "x")], [NAME]),
    "a-parameter-the-route-does-not-take": ([(PHONE, ""), ("who", NAME)], [PHONE, NAME]),
}


@pytest.mark.parametrize(("query", "personal"), ODD_QUERIES.values(), ids=ODD_QUERIES)
async def test_odd_queries_are_recorded_without_a_5xx_and_without_clear_text(
    registry: tuple[httpx.AsyncClient, str],
    query: list[tuple[str, str]],
    personal: list[str],
) -> None:
    client, url = registry
    answer = await client.get(
        "/v1/households", params=[("reveal", "true"), *query], headers=headers()
    )
    assert answer.status_code < 500, answer.text
    [entry] = await reveals(client)
    assert entry["status"] == str(answer.status_code)
    text = await audit_text(url)
    for value in personal:
        assert value not in text
    recorded = json.dumps(entry["details"]["query"], ensure_ascii=False)
    assert len(recorded) < 1000, "a hash is as long for 10 kB as for one character"
    for key, value in query:
        assert hashed(value) in recorded or value in {"g1", "x"}, key


async def test_the_auditor_finds_who_searched_for_a_person_by_naming_her(
    registry: tuple[httpx.AsyncClient, str],
) -> None:
    client, url = registry
    for subject, name in (("staff-li", NAME), ("staff-wang", OTHER), ("staff-li", OTHER)):
        searched = await client.get(
            "/v1/households",
            params={"reveal": "true", "name": name},
            headers=headers(subject=subject),
        )
        assert searched.status_code == 200, searched.text

    found = await reveals(client, searched=NAME)
    assert [(e["actor"], e["path"]) for e in found] == [("staff-li", "/v1/households")]
    assert len(await reveals(client, searched=OTHER)) == 2
    assert await reveals(client, searched="无此人") == []

    # The auditor's lookup is itself in the trail, the value it named kept hashed.
    lookups = [e for e in await reveals(client) if e["path"] == "/v1/audit"]
    assert [e["actor"] for e in lookups] == ["it-admin"] * 3
    assert lookups[-1]["details"]["query"]["searched"] == hashed(NAME)
    assert NAME not in await audit_text(url)


async def test_only_admins_look_up_who_searched_for_a_value(
    registry: tuple[httpx.AsyncClient, str],
) -> None:
    client, _ = registry
    refused = await client.get("/v1/audit", params={"searched": NAME}, headers=headers())
    assert refused.status_code == 403


def test_no_route_declares_a_personal_parameter_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every service's routes: what a route declares readable is a query parameter it takes,
    and none that can carry a person."""
    for name in SERVICES:
        url = f"sqlite:///{tmp_path / name}.db"
        engine = create_engine(url)
        audit_table(MetaData()).create(engine)
        engine.dispose()
        monkeypatch.setenv(f"LINLI_{name.upper()}_DATABASE_URL", url)
    declared = 0
    for name, definition in SERVICES.items():
        for route in iter_route_contexts(definition.create_app().routes):
            if not isinstance(getattr(route, "dependant", None), Dependant):
                continue
            readable = set((route.openapi_extra or {}).get(AUDIT_READABLE, ()))
            taken = query_parameters(route.dependant)
            assert readable <= taken, (name, route.path, readable - taken)
            assert not readable & PERSONAL, (name, route.path, readable & PERSONAL)
            declared += bool(readable)
    assert declared >= 3, "the household and organisation searches and the audit route"
