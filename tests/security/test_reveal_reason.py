"""A reveal of personal data keeps the reason the staff member gave in the audit trail."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from conftest import MigratedDatabase
from linli_registry.app import DEFINITION, create_app
from linli_registry.settings import RegistrySettings
from linli_shared.auth import mint_dev_token
from linli_shared.settings import PlatformSettings
from tests.support.api import api_client


def bearer(role: str, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_dev_token(PlatformSettings(), subject, [role])}"}


@pytest.fixture
async def registry(migrated_database: MigratedDatabase) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(RegistrySettings(database_url=await migrated_database(DEFINITION)))
    async with api_client(app, "registry") as client:
        yield client


async def test_the_reason_given_for_a_reveal_is_kept_in_the_audit_trail(
    registry: httpx.AsyncClient,
) -> None:
    created = await registry.post(
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
    household = created.json()["id"]
    revealed = await registry.get(
        f"/v1/households/{household}",
        params={"reveal": "true", "reason": "核对低保申请"},
        headers=bearer("community_staff", "staff-li"),
    )
    assert revealed.status_code == 200
    too_long = await registry.get(
        f"/v1/households/{household}",
        params={"reveal": "true", "reason": "x" * 121},
        headers=bearer("community_staff", "staff-li"),
    )
    assert too_long.status_code == 422
    assert "reason" in too_long.text

    trail = await registry.get(
        "/v1/audit", params={"action": "personal-data-read"}, headers=bearer("admin", "it-admin")
    )
    reveals = [
        (e["actor"], e["resource"], e["details"]["query"].get("reason"))
        for e in trail.json()["items"]
    ]
    assert reveals == [("staff-li", f"/v1/households/{household}", "核对低保申请")]
