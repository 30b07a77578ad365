"""Outside attacks on reach and egress, against the platform as real processes.

- A grid worker whose token also carries the partner role (a role without any grant of its own)
  neither reads nor writes another grid's households: the second role does not lift the grid
  limit.
- A notify API started with production settings (identity provider's JWKS, secrets of its own,
  no allow-list) refuses partner webhooks aimed at the city's own network or the cloud's
  metadata service, however the address is spelt, and URLs carrying credentials.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import MigratedDatabase
from linli.services import SERVICES as DEFINITIONS
from linli_shared.crypto import generate_key
from tests.conftest import SharedPlatform, bearer
from tests.support.identity import Jwks
from tests.support.infra import free_port
from tests.support.platform import ServiceProcess, _wait_ready

THEIRS, OURS, COMMUNITY = "g-theirs", "g-ours", "heping"
ADMIN = bearer("admin")
ISSUER = "https://id.city.example"


@pytest.fixture
def identity_provider() -> Iterator[Jwks]:
    provider = Jwks()
    provider.add_key("k1")
    yield provider
    provider.close()


async def _created(http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post(url, json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _household(grid: str) -> dict[str, Any]:
    return {
        "community_id": COMMUNITY,
        "grid_id": grid,
        "address": f"{grid} 路 8 号",
        "members": [{"name": f"户主 {grid}", "relation": "head"}],
        "contact_email": f"hh-{grid}@example.cn",
    }


async def test_a_grid_worker_who_is_also_a_partner_stays_in_her_grid(
    shared_platform: SharedPlatform, http: httpx.AsyncClient
) -> None:
    platform = shared_platform.platform
    registry = f"{platform.url('registry')}/v1"
    await _created(http, f"{registry}/communities", {"id": COMMUNITY, "name": "幸福社区"})
    households = {}
    for grid in (THEIRS, OURS):
        grid_body = {"id": grid, "community_id": COMMUNITY, "name": grid}
        await _created(http, f"{registry}/grids", grid_body)
        households[grid] = (await _created(http, f"{registry}/households", _household(grid)))["id"]
    token = bearer("grid_worker", "partner", subject="worker-ours", grids=[OURS])
    theirs = f"{registry}/households/{households[THEIRS]}"

    listed = await http.get(f"{registry}/households", headers=token)
    assert listed.status_code == 200, listed.text
    assert [h["id"] for h in listed.json()["items"]] == [households[OURS]]
    assert (await http.get(theirs, headers=token)).status_code == 404
    assert (await http.get(f"{theirs}/history", headers=token)).status_code == 404
    changed = await http.put(
        f"{theirs}/contact", json={"version": 1, "email": "attacker@example.cn"}, headers=token
    )
    assert changed.status_code == 404, changed.text
    registered = await http.post(f"{registry}/households", json=_household(THEIRS), headers=token)
    assert registered.status_code == 403, registered.text
    assert registered.json()["type"].endswith("outside-grids")
    # Nothing of theirs changed, nothing was added to their grid.
    untouched = (await http.get(theirs, headers=ADMIN)).json()
    assert (untouched["version"], untouched["contact_email"]) == (1, f"hh-{THEIRS}@example.cn")
    in_theirs = await http.get(f"{registry}/households?grid_id={THEIRS}", headers=ADMIN)
    assert in_theirs.json()["total"] == 1
    # Her own grid she still reaches.
    assert (await http.get(f"{registry}/households/{households[OURS]}", headers=token)).is_success


ATTACKS = [
    "https://127.0.0.1:8443/hook",
    "https://169.254.169.254/latest/meta-data/iam/",
    "https://0x7f000001/hook",
    "https://user:pass@partner.city.example/hook",
    "http://127.0.0.1:9000/hook",
]


async def test_production_notify_refuses_webhooks_into_the_citys_network(
    platform_env: dict[str, str],
    migrated_database: MigratedDatabase,
    http: httpx.AsyncClient,
    identity_provider: Jwks,
    tmp_path: Path,
) -> None:
    port = free_port()
    api = ServiceProcess(
        "notify-api-prod",
        ["serve", "notify", "--port", str(port)],
        {
            **platform_env,
            "LINLI_NOTIFY_DATABASE_URL": await migrated_database(DEFINITIONS["notify"]),
            "LINLI_ENVIRONMENT": "prod",
            "LINLI_AUTH_JWKS_URL": identity_provider.url,
            "LINLI_AUTH_ISSUER": ISSUER,
            "LINLI_AUTH_DEV_SECRET": uuid.uuid4().hex,
            "LINLI_NOTIFY_WEBHOOK_ENCRYPTION_KEYS": generate_key(),
            "LINLI_NOTIFY_CONTACT_KEYS": generate_key(),
            "LINLI_NOTIFY_AUDIT_HASH_KEY": generate_key(),
        },
        tmp_path / "notify-api-prod.log",
    )
    api.start()
    try:
        await asyncio.to_thread(_wait_ready, api, f"http://127.0.0.1:{port}/readyz", 300)
        admin = identity_provider.token("k1", sub="city-it", roles=["admin"], iss=ISSUER)
        headers = {"Authorization": f"Bearer {admin}"}
        webhooks = f"http://127.0.0.1:{port}/v1/webhooks"
        for url in ATTACKS:
            response = await http.post(
                webhooks,
                json={"name": "城管局", "url": url, "notice_types": ["overdue_escalation"]},
                headers=headers,
            )
            assert response.status_code == 422, (url, response.text)
            [error] = response.json()["errors"]
            assert error["field"] == "url" and "egress rules" in error["message"], url
        assert (await http.get(webhooks, headers=headers)).json()["items"] == []
        # A partner on the public internet is accepted.
        public = {
            "name": "城管局",
            "url": "https://93.184.216.34/hook",
            "notice_types": ["overdue_escalation"],
        }
        assert (await http.post(webhooks, json=public, headers=headers)).status_code == 201
    finally:
        api.stop()
