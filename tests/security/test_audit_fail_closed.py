"""The audit trail cannot be skipped: an audited action whose entry cannot be written is refused
(no data shown, no change made), and nothing a caller sends can make the entry fail to write.

In-process (registry on PostgreSQL) for the details; tests/security/test_attacks_audit.py plays
the same attacks against the running services.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from sqlalchemy.engine import make_url

from conftest import MigratedDatabase
from linli_registry.app import DEFINITION, create_app
from linli_registry.settings import RegistrySettings
from linli_shared.audit import HASHED
from linli_shared.auth import mint_dev_token
from linli_shared.context import is_safe_id
from linli_shared.settings import PlatformSettings
from tests.support.api import api_client

ID_NUMBER = "11010519491231002X"
PHONE = "13812345678"


def token(role: str, subject: str = "staff-li") -> str:
    return mint_dev_token(PlatformSettings(), subject, [role])


def headers(role: str = "community_staff", **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role)}", **extra}


@pytest.fixture
async def registry(
    migrated_database: MigratedDatabase,
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    url = await migrated_database(DEFINITION)
    app = create_app(RegistrySettings(database_url=url))
    async with api_client(app, "registry") as client:
        yield client, url


async def register(client: httpx.AsyncClient, name: str = "赵敏") -> dict[str, Any]:
    created = await client.post(
        "/v1/households",
        headers=headers(),
        json={
            "community_id": "c1",
            "grid_id": "g1",
            "address": f"光明路 {uuid.uuid4().int % 1000} 号",
            "members": [{"name": name, "relation": "head", "id_number": ID_NUMBER}],
            "contact_email": "zhao@example.cn",
            "contact_phone": PHONE,
            "allow_duplicate": True,
        },
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def execute(url: str, *statements: str) -> None:
    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
    )
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def refuse_audit_entries(url: str) -> None:
    """The trail's storage fails (a trigger raising on every INSERT)."""
    await execute(
        url,
        "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'the audit storage is full'; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER audit_log_refused BEFORE INSERT ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
    )


async def audit_entries(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    trail = await client.get("/v1/audit", headers=headers("admin"), params={"limit": 200})
    assert trail.status_code == 200, trail.text
    items: list[dict[str, Any]] = trail.json()["items"]
    return items


def assert_refused_without_data(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/audit-unavailable")
    assert ID_NUMBER not in answer.text
    assert PHONE not in answer.text


async def test_a_reveal_whose_audit_entry_cannot_be_written_shows_nothing(
    registry: tuple[httpx.AsyncClient, str],
) -> None:
    client, url = registry
    household = await register(client)
    await refuse_audit_entries(url)

    one = await client.get(
        f"/v1/households/{household['id']}", params={"reveal": "true"}, headers=headers()
    )
    assert_refused_without_data(one)
    bulk = await client.get("/v1/households", params={"reveal": "true"}, headers=headers())
    assert_refused_without_data(bulk)


async def test_a_contact_change_whose_audit_entry_cannot_be_written_is_not_made(
    registry: tuple[httpx.AsyncClient, str],
) -> None:
    client, url = registry
    household = await register(client)
    await refuse_audit_entries(url)

    changed = await client.put(
        f"/v1/households/{household['id']}/contact",
        headers=headers(),
        json={"version": household["version"], "email": "new@example.cn", "phone": "13900000000"},
    )
    assert changed.status_code == 503, changed.text
    assert changed.json()["type"].endswith("/audit-unavailable")

    await execute(url, "DROP TRIGGER audit_log_refused ON audit_log")
    after = await client.get(f"/v1/households/{household['id']}", headers=headers())
    assert after.json()["version"] == household["version"], "the change and its entry go together"
    again = await client.put(
        f"/v1/households/{household['id']}/contact",
        headers=headers(**{"X-Correlation-ID": "change_2:retry"}),
        json={"version": household["version"], "email": "new@example.cn"},
    )
    assert again.status_code == 200, again.text
    assert again.headers["X-Correlation-ID"] == "change_2:retry", "a safe id is kept"
    entries = [e for e in await audit_entries(client) if e["correlation_id"] == "change_2:retry"]
    assert [(e["action"], e["method"], e["status"]) for e in entries] == [("write", "PUT", "200")]


@pytest.mark.parametrize(
    "sent",
    ["x" * 101, "a b", "<script>", "id;drop", "../../etc/passwd", "ünïcode", "-leading-dash"],
)
async def test_an_unsafe_correlation_id_is_replaced_and_the_reveal_is_recorded(
    registry: tuple[httpx.AsyncClient, str], sent: str
) -> None:
    client, _ = registry
    household = await register(client)
    revealed = await client.get(
        f"/v1/households/{household['id']}",
        params={"reveal": "true"},
        headers=[
            (b"Authorization", f"Bearer {token('community_staff')}".encode()),
            (b"X-Correlation-ID", sent.encode()),
        ],
    )
    assert revealed.status_code == 200, revealed.text
    used = revealed.headers["X-Correlation-ID"]
    assert used != sent and is_safe_id(used)
    recorded = [e for e in await audit_entries(client) if e["correlation_id"] == used]
    assert [(e["action"], e["path"]) for e in recorded] == [
        ("personal-data-read", f"/v1/households/{household['id']}")
    ]


async def test_a_bulk_reveal_records_its_filters_and_the_households_it_showed(
    registry: tuple[httpx.AsyncClient, str],
) -> None:
    client, _ = registry
    first = await register(client, name="钱多多")
    second = await register(client, name="钱多多")
    await register(client, name="孙悟空")
    found = await client.get(
        "/v1/households",
        params={"reveal": "true", "name": "钱多多", "limit": "10"},
        headers=headers(**{"X-Correlation-ID": "bulk-1"}),
    )
    assert found.status_code == 200, found.text
    assert PHONE in found.text
    entry = next(e for e in await audit_entries(client) if e["correlation_id"] == "bulk-1")
    assert entry["action"] == "personal-data-read"
    name = HASHED + RegistrySettings().audit_hash().of("钱多多")
    assert entry["details"]["query"] == {"reveal": "true", "name": name, "limit": "10"}
    assert sorted(entry["details"]["subjects"]) == sorted([first["id"], second["id"]])


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (
            {
                "method": "POST",
                "url": "/v1/households",
                "json": {
                    "community_id": "c1",
                    "grid_id": "g1",
                    "address": "光明路 1 号",
                    "members": [{"name": "赵\x00敏", "relation": "head"}],
                    "contact_email": "zhao@example.cn",
                },
            },
            "members.0.name",
        ),
        ({"method": "GET", "url": "/v1/households", "params": {"name": "a\x00"}}, "query.name"),
        ({"method": "GET", "url": "/v1/grids/g%001"}, "path"),
    ],
    ids=["body", "query", "path"],
)
async def test_a_nul_character_is_a_422_naming_the_field(
    registry: tuple[httpx.AsyncClient, str], request_: dict[str, Any], field: str
) -> None:
    client, _ = registry
    answer = await client.request(**request_, headers=headers())
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == [field]


@pytest.mark.parametrize(
    "claims",
    [
        {"roles": 5},
        {"grids": 5},
        {"roles": {"admin": True}},
        {"roles": ["admin", 5]},
        {"organisation": 5},
        {"resident": "not-a-uuid"},
    ],
    ids=[
        "roles-number",
        "grids-number",
        "roles-object",
        "roles-mixed",
        "organisation-number",
        "resident-not-an-id",
    ],
)
async def test_a_token_with_claims_of_the_wrong_type_is_401(
    registry: tuple[httpx.AsyncClient, str], claims: dict[str, Any]
) -> None:
    client, _ = registry
    settings = PlatformSettings()
    now = datetime.now(UTC)
    signed = jwt.encode(
        {
            "sub": "mallory",
            "roles": ["community_staff"],
            "grids": [],
            "iss": settings.auth_issuer,
            "aud": settings.auth_audience,
            "iat": now,
            "exp": now + timedelta(minutes=5),
            **claims,
        },
        settings.auth_dev_secret.get_secret_value(),
        algorithm="HS256",
    )
    answer = await client.get("/v1/households", headers={"Authorization": f"Bearer {signed}"})
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * size
        sent += size


async def test_an_oversized_chunked_body_is_413(registry: tuple[httpx.AsyncClient, str]) -> None:
    client, _ = registry
    limit = PlatformSettings().max_request_bytes
    answer = await client.post(
        "/v1/households",
        headers={**headers(), "Content-Type": "application/json"},
        content=chunks(limit * 2),
    )
    assert answer.status_code == 413, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
