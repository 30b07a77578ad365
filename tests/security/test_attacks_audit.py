"""Attacks on the audit trail and on input handling, played over HTTP against the running
platform (each service's API and worker as processes, on PostgreSQL and Kafka).

An attacker tries to reveal personal data without leaving a trail entry (a correlation id the
trail cannot store), to make the services fail with NUL characters, token claims of the wrong
type, oversized chunked bodies and malformed template variables, and reads the access logs for
the names and ID tails a search was made with. Every answer must be a 4xx problem+json, and
every answer that revealed data must have its entry in the trail.

The platform is started once for the module; each test makes and reads only its own records.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from linli_shared.audit import HASHED
from linli_shared.auth import mint_dev_token
from linli_shared.crypto import BlindIndex
from linli_shared.settings import DEV_AUDIT_HASH_KEY, PlatformSettings
from tests.conftest import SharedPlatform
from tests.support.platform import SERVICES, Platform

ID_NUMBER = "11010519491231002X"
PHONE = "13812345678"
PROBLEM_JSON = "application/problem+json"
ODD_CORRELATION_IDS = ["x" * 101, "y" * 5000, "a b c", "<img src=x>", "'; DROP TABLE audit_log;--"]


def authorization(role: str, subject: str = "attacker-staff") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_dev_token(PlatformSettings(), subject, [role])}"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


async def register(client: httpx.AsyncClient, platform: Platform, name: str) -> dict[str, Any]:
    created = await client.post(
        f"{platform.url('registry')}/v1/households",
        headers=authorization("community_staff"),
        json={
            "community_id": "c1",
            "grid_id": "g1",
            "address": f"和平街 {uuid.uuid4().hex[:6]} 号",
            "members": [{"name": name, "relation": "head", "id_number": ID_NUMBER}],
            "contact_email": "victim@example.cn",
            "contact_phone": PHONE,
            "allow_duplicate": True,
        },
    )
    assert created.status_code == 201, created.text
    household: dict[str, Any] = created.json()
    return household


async def trail(client: httpx.AsyncClient, platform: Platform) -> list[dict[str, Any]]:
    answer = await client.get(
        f"{platform.url('registry')}/v1/audit",
        headers=authorization("admin", "it-admin"),
        params={"limit": 200},
    )
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()["items"]
    return entries


def assert_problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = answer.json()
    assert body["status"] == status
    return body


@pytest.mark.parametrize("correlation_id", ODD_CORRELATION_IDS, ids=lambda i: i[:12])
async def test_no_correlation_id_lets_a_reveal_or_a_contact_change_skip_the_audit_trail(
    shared_platform: SharedPlatform, client: httpx.AsyncClient, correlation_id: str
) -> None:
    platform = shared_platform.platform
    name = f"受害人{uuid.uuid4().hex[:4]}"
    household = await register(client, platform, name)
    registry = platform.url("registry")
    attack = {**authorization("community_staff"), "X-Correlation-ID": correlation_id}

    one = await client.get(
        f"{registry}/v1/households/{household['id']}", params={"reveal": "true"}, headers=attack
    )
    bulk = await client.get(
        f"{registry}/v1/households", params={"reveal": "true", "name": name}, headers=attack
    )
    contact = await client.put(
        f"{registry}/v1/households/{household['id']}/contact",
        headers=attack,
        json={"version": household["version"], "email": "thief@example.cn", "phone": PHONE},
    )

    entries = await trail(client, platform)
    for answer, action, path in (
        (one, "personal-data-read", f"/v1/households/{household['id']}"),
        (bulk, "personal-data-read", "/v1/households"),
        (contact, "write", f"/v1/households/{household['id']}/contact"),
    ):
        if answer.status_code >= 400:
            assert 400 <= answer.status_code < 500
            assert PHONE not in answer.text and ID_NUMBER not in answer.text
            continue
        used = answer.headers["X-Correlation-ID"]
        recorded = [(e["action"], e["path"]) for e in entries if e["correlation_id"] == used]
        assert recorded == [(action, path)], f"{answer.request.method} {path} left no entry"
    bulk_entry = next(e for e in entries if e["correlation_id"] == bulk.headers["X-Correlation-ID"])
    assert bulk_entry["details"]["subjects"] == [household["id"]]
    # The name searched for is kept only as its keyed hash (the platform runs the dev keys).
    hashed = HASHED + BlindIndex(DEV_AUDIT_HASH_KEY).of(name)
    assert bulk_entry["details"]["query"]["name"] == hashed
    assert name not in json.dumps(bulk_entry, ensure_ascii=False)


async def test_a_nul_character_is_a_422_naming_the_field_not_a_500(
    shared_platform: SharedPlatform, client: httpx.AsyncClient
) -> None:
    registry = shared_platform.platform.url("registry")
    body = assert_problem(
        await client.post(
            f"{registry}/v1/households",
            headers=authorization("community_staff"),
            json={
                "community_id": "c1",
                "grid_id": "g1",
                "address": "和平街\x00 1 号",
                "members": [{"name": "钱七", "relation": "head"}],
                "contact_email": "q@example.cn",
            },
        ),
        422,
    )
    assert [e["field"] for e in body["errors"]] == ["address"]
    body = assert_problem(
        await client.get(
            f"{registry}/v1/households",
            params={"name": "钱\x00"},
            headers=authorization("community_staff"),
        ),
        422,
    )
    assert [e["field"] for e in body["errors"]] == ["query.name"]


def forged(claims: dict[str, Any]) -> dict[str, str]:
    """A token signed with the (test) signing key whose claims have the wrong types."""
    settings = PlatformSettings()
    now = datetime.now(UTC)
    signed = jwt.encode(
        {
            "sub": "mallory",
            "iss": settings.auth_issuer,
            "aud": settings.auth_audience,
            "iat": now,
            "exp": now + timedelta(minutes=5),
            **claims,
        },
        settings.auth_dev_secret.get_secret_value(),
        algorithm="HS256",
    )
    return {"Authorization": f"Bearer {signed}"}


@pytest.mark.parametrize(
    "claims",
    [
        {"roles": 5},
        {"roles": ["admin"], "grids": 5},
        {"roles": {"admin": 1}},
        {"roles": ["resident"], "resident": "me"},
        {"roles": ["shop"], "organisation": [5]},
    ],
    ids=["roles-number", "grids-number", "roles-object", "resident-not-an-id", "organisation-list"],
)
async def test_a_token_with_claims_of_the_wrong_type_is_401_everywhere(
    shared_platform: SharedPlatform, client: httpx.AsyncClient, claims: dict[str, Any]
) -> None:
    for service in SERVICES:
        answer = await client.get(
            f"{shared_platform.platform.url(service)}/v1/audit", headers=forged(claims)
        )
        assert_problem(answer, 401)


async def chunked_post(url: str, path: str, headers: dict[str, str], size: int) -> bytes:
    """POST `size` bytes in chunks without a Content-Length; the status line of the answer."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
        head += [f"{key}: {value}" for key, value in headers.items()]
        head += ["Transfer-Encoding: chunked", "", ""]
        writer.write("\r\n".join(head).encode())
        chunk = b" " * 65536
        for _ in range(size // len(chunk) + 1):
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()
        return await reader.readline()
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("service", "path"),
    [("registry", "/v1/households"), ("notify", "/v1/templates/rectification/preview")],
)
async def test_an_oversized_chunked_body_is_413(
    shared_platform: SharedPlatform, service: str, path: str
) -> None:
    limit = PlatformSettings().max_request_bytes
    status_line = await chunked_post(
        shared_platform.platform.url(service), path, authorization("community_staff"), limit + 65536
    )
    assert status_line.startswith(b"HTTP/1.1 413"), status_line


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"inspected_at": "not-a-date"}, "variables.inspected_at"),
        ({"findings": [{"item": "bins"}]}, "variables.findings.0.severity"),
        ({"findings": [{"item": "bins", "severity": ["a"]}]}, "variables.findings.0.severity"),
    ],
    ids=["date", "no-severity", "severity-list"],
)
async def test_a_malformed_template_preview_is_a_422_naming_the_variable(
    shared_platform: SharedPlatform,
    client: httpx.AsyncClient,
    variables: dict[str, Any],
    field: str,
) -> None:
    complete = {
        "checklist": "sanitation",
        "inspected_at": "2026-03-01T01:30:00+00:00",
        "comply_by": "2026-03-08T01:30:00+00:00",
        "findings": [{"item": "bins", "severity": "general"}],
    }
    answer = await client.post(
        f"{shared_platform.platform.url('notify')}/v1/templates/rectification/preview",
        headers=authorization("community_staff"),
        json={"variables": {**complete, **variables}},
    )
    body = assert_problem(answer, 422)
    assert [e["field"] for e in body["errors"]] == [field]


async def test_the_access_log_keeps_no_search_terms(
    shared_platform: SharedPlatform, client: httpx.AsyncClient
) -> None:
    marker = f"寻人{uuid.uuid4().hex[:6]}"
    answer = await client.get(
        f"{shared_platform.platform.url('registry')}/v1/households",
        params={"name": marker, "id_tail": "002X"},
        headers=authorization("community_staff"),
    )
    assert answer.status_code == 200, answer.text
    log = shared_platform.platform.apis["registry"].log_path.read_text(errors="replace")
    access = [
        json.loads(line)["message"] for line in log.splitlines() if '"uvicorn.access"' in line
    ]
    assert any('"GET /v1/households HTTP/1.1" 200' in line for line in access), access
    assert "id_tail" not in log
    assert marker not in log and httpx.URL(params={"name": marker}).query.decode() not in log
