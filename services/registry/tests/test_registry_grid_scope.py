"""Grid workers and inspectors see and act only in their grids (issue 7), over HTTP against a
real PostgreSQL. Outside their grids a household, grid, compound or organisation is not found
(404, reads and writes alike); naming another grid in a write is forbidden (403). Community
staff and admins are not limited."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.grid_scope import bearer

STAFF = bearer("community_staff")
ADMIN = bearer("admin")
WORKER = bearer("grid_worker", ["g-01"])  # works in grid 1 only
INSPECTOR = bearer("inspector", ["g-01"])


@pytest.fixture
async def households(client: httpx.AsyncClient) -> dict[str, str]:
    """A household in grid 1 and one in grid 2, with their places and property managers."""
    await _created(client, "communities", {"id": "xingfu", "name": "幸福社区"})
    ids = {}
    for grid in ("g-01", "g-02"):
        await _created(client, "grids", {"id": grid, "community_id": "xingfu", "name": grid})
        await _created(
            client,
            "compounds",
            {
                "id": f"cp-{grid}",
                "community_id": "xingfu",
                "grid_id": grid,
                "name": f"花园 {grid}",
                "address": f"{grid} 路 1 号",
            },
        )
        organisation = await _created(
            client,
            "organisations",
            {
                "kind": "property_manager",
                "name": f"物业 {grid}",
                "community_id": "xingfu",
                "grid_id": grid,
                "compound_ids": [f"cp-{grid}"],
                "contact": {"email": f"pm-{grid}@example.cn"},
            },
        )
        household = await _created(
            client,
            "households",
            {
                "community_id": "xingfu",
                "grid_id": grid,
                "address": f"{grid} 路 8 号",
                "members": [{"name": f"户主 {grid}", "relation": "head"}],
                "contact_email": f"hh-{grid}@example.cn",
            },
        )
        ids[grid] = household["id"]
        ids[f"org-{grid}"] = organisation["id"]
    return ids


async def _created(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    response = await client.post(f"/v1/{path}", json=body, headers=STAFF)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize("who", [WORKER, INSPECTOR], ids=["grid_worker", "inspector"])
async def test_lists_and_searches_show_only_their_grids(
    client: httpx.AsyncClient, households: dict[str, str], who: dict[str, str]
) -> None:
    for path, expected in [
        ("/v1/households", [households["g-01"]]),
        ("/v1/households?grid_id=g-02", []),
        ("/v1/households?name=户主", [households["g-01"]]),
        ("/v1/grids", ["g-01"]),
        ("/v1/compounds", ["cp-g-01"]),
        ("/v1/compounds?grid_id=g-02", []),
        ("/v1/organisations", [households["org-g-01"]]),
    ]:
        response = await client.get(path, headers=who)
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        assert [item["id"] for item in body["items"]] == expected, path
        assert body["total"] == len(expected), path


@pytest.mark.parametrize("who", [WORKER, INSPECTOR], ids=["grid_worker", "inspector"])
async def test_reading_another_grid_is_not_found(
    client: httpx.AsyncClient, households: dict[str, str], who: dict[str, str]
) -> None:
    for path in [
        f"/v1/households/{households['g-02']}",
        "/v1/grids/g-02",
        "/v1/compounds/cp-g-02",
        f"/v1/organisations/{households['org-g-02']}",
    ]:
        response = await client.get(path, headers=who)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    for path in [f"/v1/households/{households['g-01']}", "/v1/grids/g-01", "/v1/compounds/cp-g-01"]:
        assert (await client.get(path, headers=who)).status_code == 200, path


async def test_history_of_another_grid_is_not_found(
    client: httpx.AsyncClient, households: dict[str, str]
) -> None:
    theirs = await client.get(f"/v1/households/{households['g-02']}/history", headers=WORKER)
    assert theirs.status_code == 404
    mine = await client.get(f"/v1/households/{households['g-01']}/history", headers=WORKER)
    assert mine.status_code == 200


async def test_changing_a_household_of_another_grid_is_not_found(
    client: httpx.AsyncClient, households: dict[str, str]
) -> None:
    other = households["g-02"]
    for method, path, body in [
        ("POST", "move", {"version": 1, "grid_id": "g-01", "address": "g-01 路 9 号"}),
        ("PUT", "members", {"version": 1, "members": [{"name": "某人", "relation": "head"}]}),
        ("PUT", "contact", {"version": 1, "email": "x@example.cn"}),
        ("PUT", "consent", {"version": 1, "integrity_scoring": True, "notice_channels": ["email"]}),
        ("POST", "deregister", {"version": 1, "reason": "搬走"}),
    ]:
        response = await client.request(
            method, f"/v1/households/{other}/{path}", json=body, headers=WORKER
        )
        assert response.status_code == 404, (path, response.text)
    unchanged = await client.get(f"/v1/households/{other}", headers=STAFF)
    assert unchanged.json()["version"] == 1


async def test_writing_into_another_grid_is_forbidden(
    client: httpx.AsyncClient, households: dict[str, str]
) -> None:
    register = await client.post(
        "/v1/households",
        headers=WORKER,
        json={
            "community_id": "xingfu",
            "grid_id": "g-02",
            "address": "g-02 路 20 号",
            "members": [{"name": "新户", "relation": "head"}],
            "contact_email": "new@example.cn",
        },
    )
    assert register.status_code == 403, register.text
    move = await client.post(
        f"/v1/households/{households['g-01']}/move",
        headers=WORKER,
        json={"version": 1, "grid_id": "g-02", "address": "g-02 路 30 号"},
    )
    assert move.status_code == 403, move.text
    organisation = await client.post(
        "/v1/organisations",
        headers=WORKER,
        json={
            "kind": "shop",
            "name": "小店",
            "community_id": "xingfu",
            "grid_id": "g-02",
            "frontage_segments": ["g-02-rd"],
            "contact": {"email": "shop@example.cn"},
        },
    )
    assert organisation.status_code == 403, organisation.text

    in_own_grid = await client.put(
        f"/v1/households/{households['g-01']}/consent",
        headers=WORKER,
        json={"version": 1, "integrity_scoring": True, "notice_channels": ["email"]},
    )
    assert in_own_grid.status_code == 200, in_own_grid.text


@pytest.mark.parametrize("who", [STAFF, ADMIN], ids=["community_staff", "admin"])
async def test_staff_and_admins_see_every_grid(
    client: httpx.AsyncClient, households: dict[str, str], who: dict[str, str]
) -> None:
    assert (await client.get("/v1/households", headers=who)).json()["total"] == 2
    assert (await client.get("/v1/compounds", headers=who)).json()["total"] == 2
    assert (
        await client.get(f"/v1/households/{households['g-02']}", headers=who)
    ).status_code == 200
    assert (await client.get("/v1/grids/g-02", headers=who)).status_code == 200


async def test_members_keep_their_resident_id_over_http(
    client: httpx.AsyncClient, households: dict[str, str]
) -> None:
    url = f"/v1/households/{households['g-01']}"
    [head] = (await client.get(url, headers=STAFF)).json()["members"]
    changed = await client.put(
        f"{url}/members",
        headers=WORKER,
        json={
            "version": 1,
            "members": [
                {**head, "relation": "head"},
                {"name": "新生儿", "relation": "child"},
            ],
        },
    )
    assert changed.status_code == 200, changed.text
    kept, newborn = changed.json()["members"]
    assert kept["resident_id"] == head["resident_id"]
    assert newborn["resident_id"] not in (None, head["resident_id"])


async def test_a_community_time_zone_is_validated(
    client: httpx.AsyncClient, households: dict[str, str]
) -> None:
    bad = await client.put(
        "/v1/communities/xingfu", headers=STAFF, json={"name": "幸福社区", "time_zone": "Mars/Base"}
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "time_zone"
    good = await client.put(
        "/v1/communities/xingfu",
        headers=STAFF,
        json={"name": "幸福社区", "time_zone": "Asia/Urumqi"},
    )
    assert good.json()["time_zone"] == "Asia/Urumqi"
    missing = await client.put(
        "/v1/communities/nowhere", headers=STAFF, json={"name": "X", "time_zone": "UTC"}
    )
    assert missing.status_code == 404
