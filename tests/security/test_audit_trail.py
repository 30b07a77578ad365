"""The audit trail: writes and reveals of personal data are recorded, readable by admins only,
and the database refuses to edit or delete them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from conftest import MigratedDatabase
from linli_registry.app import DEFINITION, create_app
from linli_registry.settings import RegistrySettings
from linli_shared.auth import mint_dev_token
from linli_shared.settings import PlatformSettings
from tests.support.api import api_client


def bearer(role: str, subject: str, *grids: str) -> dict[str, str]:
    token = mint_dev_token(PlatformSettings(), subject, [role], list(grids))
    return {"Authorization": f"Bearer {token}", "X-Correlation-ID": f"audit-{subject}"}


@pytest.fixture
async def registry(
    migrated_database: MigratedDatabase,
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    url = await migrated_database(DEFINITION)
    app = create_app(RegistrySettings(database_url=url))
    async with api_client(app, "registry") as client:
        yield client, url


async def test_writes_and_reveals_are_recorded_and_cannot_be_changed(
    registry: tuple[httpx.AsyncClient, str],
) -> None:
    client, url = registry
    created = await client.post(
        "/v1/households",
        headers=bearer("community_staff", "staff-li"),
        json={
            "community_id": "c1",
            "grid_id": "g1",
            "address": "光明路 8 号",
            "members": [{"name": "赵敏", "relation": "head"}],
            "contact_email": "zhao@example.cn",
        },
    )
    assert created.status_code == 201, created.text
    household = created.json()["id"]
    masked = await client.get(
        f"/v1/households/{household}", headers=bearer("grid_worker", "gw", "g1")
    )
    assert masked.status_code == 200
    revealed = await client.get(
        f"/v1/households/{household}",
        params={"reveal": "true"},
        headers=bearer("community_staff", "staff-li"),
    )
    assert revealed.status_code == 200

    refused = await client.get("/v1/audit", headers=bearer("community_staff", "staff-li"))
    assert refused.status_code == 403
    trail = await client.get("/v1/audit", headers=bearer("admin", "it-admin"))
    assert trail.status_code == 200
    entries = trail.json()["items"]
    actions = [(e["actor"], e["action"], e["method"], e["path"]) for e in entries]
    assert ("staff-li", "write", "POST", "/v1/households") in actions
    assert ("staff-li", "personal-data-read", "GET", f"/v1/households/{household}") in actions
    assert not any(actor == "gw" for actor, *_ in actions), "a masked read is not a reveal"
    assert trail.json()["total"] == len(entries)
    one = await client.get(
        "/v1/audit", params={"action": "write", "limit": 1}, headers=bearer("admin", "it-admin")
    )
    assert one.json()["total"] == sum(e["action"] == "write" for e in entries)
    assert [e["action"] for e in one.json()["items"]] == ["write"]
    write = next(e for e in entries if e["action"] == "write")
    assert write["status"] == "201"
    assert write["correlation_id"] == "audit-staff-li"
    assert write["roles"] == "community_staff"

    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, database=parsed.database
    )
    try:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await connection.execute("UPDATE audit_log SET actor = 'nobody'")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await connection.execute("DELETE FROM audit_log")
        assert await connection.fetchval("SELECT count(*) FROM audit_log") == len(entries)
    finally:
        await connection.close()
