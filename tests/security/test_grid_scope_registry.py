"""The grid walk over the registry: every route admitting a grid worker or an inspector is called
by every role set whose grant of that route is grid-bound (a grid worker alone, a grid worker who
is also a partner or an inspector, …) with a token for another grid, about that grid's household,
grid, compound and organisation. Reads and changes answer 404, registering or moving into the
other grid 403 `outside-grids`, lists leave the other grid out (tests/support/grid_scope.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from conftest import MigratedDatabase
from linli_registry.app import DEFINITION, create_app
from linli_registry.settings import RegistrySettings
from linli_shared.permissions import RoutePermission, route_permissions
from tests.support.api import api_client
from tests.support.grid_scope import (
    ADMIN,
    COMMUNITY,
    OURS,
    THEIRS,
    Item,
    Probe,
    bearer_of,
    refused,
    walk,
)

GRID_FREE = {("GET", "/v1/communities")}


@dataclass(frozen=True)
class Registry:
    client: httpx.AsyncClient
    permissions: list[RoutePermission]


@pytest.fixture
async def registry(migrated_database: MigratedDatabase) -> AsyncIterator[Registry]:
    url = await migrated_database(DEFINITION)
    app = create_app(RegistrySettings(database_url=url))
    async with api_client(app, "registry") as client:
        yield Registry(client, route_permissions(app))


async def _created(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Item:
    response = await client.post(f"/v1/{path}", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    created: Item = response.json()
    return created


def _household(grid: str) -> dict[str, Any]:
    return {
        "community_id": COMMUNITY,
        "grid_id": grid,
        "address": f"{grid} 路 8 号",
        "members": [{"name": f"户主 {grid}", "relation": "head"}],
        "contact_email": f"hh-{grid}@example.cn",
    }


def _organisation(grid: str) -> dict[str, Any]:
    return {
        "kind": "property_manager",
        "name": f"物业 {grid}",
        "community_id": COMMUNITY,
        "grid_id": grid,
        "compound_ids": [f"cp-{grid}"],
        "contact": {"email": f"pm-{grid}@example.cn"},
    }


async def _places(client: httpx.AsyncClient) -> dict[str, str]:
    """Both grids with a compound, a property manager and a household each."""
    await _created(client, "communities", {"id": COMMUNITY, "name": "幸福社区"})
    ids = {}
    for grid in (THEIRS, OURS):
        await _created(client, "grids", {"id": grid, "community_id": COMMUNITY, "name": grid})
        await _created(
            client,
            "compounds",
            {
                "id": f"cp-{grid}",
                "community_id": COMMUNITY,
                "grid_id": grid,
                "name": f"花园 {grid}",
                "address": f"{grid} 路 1 号",
            },
        )
        organisation = await _created(client, "organisations", _organisation(grid))
        ids[f"organisation-{grid}"] = organisation["id"]
        household = await _created(client, "households", _household(grid))
        ids[f"household-{grid}"] = household["id"]
        ids[f"resident-{grid}"] = household["members"][0]["resident_id"]
    # An erasure of theirs: a household of their grid erased by an admin.
    erased = (
        await _created(client, "households", {**_household(THEIRS), "address": f"{THEIRS} 路 9 号"})
    )["id"]
    started = await client.post(
        f"/v1/households/{erased}/erasures", json={"reason": "retention"}, headers=ADMIN
    )
    assert started.status_code == 202, started.text
    ids["erasure"] = started.json()["id"]
    # An access request about a resident of theirs, started by an admin.
    asked = await client.post(
        "/v1/access-requests",
        json={"resident_id": ids[f"resident-{THEIRS}"], "reason": "本人申请查阅"},
        headers=ADMIN,
    )
    assert asked.status_code == 202, asked.text
    ids["access"] = asked.json()["id"]
    return ids


def _probes(ids: dict[str, str]) -> list[Probe]:
    household, ours = f"/v1/households/{ids[f'household-{THEIRS}']}", ids[f"household-{OURS}"]
    access = f"/v1/access-requests/{ids['access']}"
    organisation = f"/v1/organisations/{ids[f'organisation-{THEIRS}']}"
    version = {"version": 1}
    return [
        Probe("GET", "/v1/households", "/v1/households", lists=True),
        Probe("POST", "/v1/households", "/v1/households", _household(THEIRS)),
        Probe("GET", "/v1/households/{household_id}", household),
        Probe("GET", "/v1/households/{household_id}/history", f"{household}/history"),
        Probe(
            "PUT",
            "/v1/households/{household_id}/members",
            f"{household}/members",
            {**version, "members": [{"name": "某人", "relation": "head"}]},
        ),
        Probe(
            "PUT",
            "/v1/households/{household_id}/contact",
            f"{household}/contact",
            {**version, "email": "x@example.cn"},
        ),
        Probe(
            "PUT",
            "/v1/households/{household_id}/consent",
            f"{household}/consent",
            {**version, "integrity_scoring": True, "notice_channels": ["email"]},
        ),
        Probe(
            "POST",
            "/v1/households/{household_id}/deregister",
            f"{household}/deregister",
            {**version, "reason": "搬走"},
        ),
        Probe(
            "POST",
            "/v1/households/{household_id}/erasures",
            f"{household}/erasures",
            {"reason": "本人申请"},
        ),
        Probe("GET", "/v1/erasures/{erasure_id}", f"/v1/erasures/{ids['erasure']}"),
        Probe(
            "POST",
            "/v1/access-requests",
            "/v1/access-requests",
            {"resident_id": ids[f"resident-{THEIRS}"], "reason": "本人申请查阅"},
        ),
        *(
            Probe("GET", f"/v1/access-requests/{{request_id}}{tail}", f"{access}{tail}")
            for tail in ("", "/export", "/export.html")
        ),
        # Moving our own household into their grid names their grid: refused.
        Probe(
            "POST",
            "/v1/households/{household_id}/move",
            f"/v1/households/{ours}/move",
            {**version, "grid_id": THEIRS, "address": f"{THEIRS} 路 30 号"},
        ),
        Probe("GET", "/v1/grids", "/v1/grids", lists=True),
        Probe("GET", "/v1/grids/{grid_id}", f"/v1/grids/{THEIRS}"),
        Probe("GET", "/v1/compounds", "/v1/compounds", lists=True),
        Probe("GET", "/v1/compounds/{compound_id}", f"/v1/compounds/cp-{THEIRS}"),
        Probe("GET", "/v1/organisations", "/v1/organisations", lists=True),
        Probe("POST", "/v1/organisations", "/v1/organisations", _organisation(THEIRS)),
        Probe("GET", "/v1/organisations/{organisation_id}", organisation),
        Probe(
            "PUT",
            "/v1/organisations/{organisation_id}",
            organisation,
            {**version, "name": "改名", "grid_id": THEIRS, "contact": {"email": "pm@example.cn"}},
        ),
    ]


def _theirs(item: Item) -> bool:
    return THEIRS in (item.get("grid_id"), item.get("id"))


async def test_grid_bound_grants_are_refused_other_grids_places(registry: Registry) -> None:
    client = registry.client
    ids = await _places(client)
    probes = _probes(ids)
    walked = await walk(
        client,
        registry.permissions,
        probes,
        grid_free=GRID_FREE,
        is_refused=lambda probe, response: refused(probe, response, _theirs),
    )
    assert walked >= 17 * 5
    # Nothing of theirs changed, and nothing was registered in their grid.
    household = await client.get(probes[2].url, headers=ADMIN)
    assert household.json()["version"] == 1
    listed = await client.get("/v1/households", params={"grid_id": THEIRS}, headers=ADMIN)
    assert listed.json()["total"] == 1
    # A second role that is granted the route itself reaches further: community staff read
    # every grid, and so does a grid worker who is community staff too.
    both = bearer_of(["grid_worker", "community_staff"], [OURS])
    assert (await client.get(probes[2].url, headers=both)).status_code == 200
    # Our grid's worker, also a partner, still reads our own grid.
    ours = await client.get(
        f"/v1/households/{ids[f'household-{OURS}']}",
        headers=bearer_of(["grid_worker", "partner"], [OURS]),
    )
    assert ours.status_code == 200, ours.text
