"""What a caller learns from the registry beyond what it may read (issue 15): masks, searches
and the duplicate check are no window into ID numbers, phones or other grids. In process, over
HTTP, against a real PostgreSQL; tests/security/test_attacks_masks.py plays the attacks against
the running platform."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from linli_registry.app import DEFINITION, create_app
from linli_registry.domain.personal import id_check_digit
from linli_registry.settings import RegistrySettings
from linli_shared.auth import mint_dev_token
from linli_shared.migrations import upgrade
from linli_shared.settings import PlatformSettings

CreateDatabase = Callable[[str], Awaitable[str]]


def bearer(role: str, *grids: str) -> dict[str, str]:
    token = mint_dev_token(PlatformSettings(), f"{role}-1", [role], list(grids))
    return {"Authorization": f"Bearer {token}"}


STAFF = bearer("community_staff")
WORKER_1 = bearer("grid_worker", "g-01")


def valid_id(first17: str) -> str:
    return first17 + id_check_digit(first17)


ID_G2 = valid_id("11010519491231002")


@pytest.fixture
async def client(create_database: CreateDatabase) -> AsyncIterator[httpx.AsyncClient]:
    url = await create_database("linli_registry")
    await asyncio.to_thread(upgrade, DEFINITION.migrations_dir, url)
    app = create_app(RegistrySettings(database_url=url))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as client,
    ):
        yield client


async def _created(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    response = await client.post(f"/v1/{path}", json=body, headers=STAFF)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def grids(client: httpx.AsyncClient) -> dict[str, str]:
    """Grids 1 and 2 of one community; a household in grid 2 with a member's ID number."""
    await _created(client, "communities", {"id": "xingfu", "name": "幸福社区"})
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
                "address": f"{grid} 路",
            },
        )
    other = await _created(
        client,
        "households",
        {
            "community_id": "xingfu",
            "grid_id": "g-02",
            "address": "幸福路 2 号",
            "members": [{"name": "王芳", "relation": "head", "id_number": ID_G2}],
            "contact_email": "wang@example.cn",
        },
    )
    return {"g-02": other["id"]}


def _household(address: str, id_number: str | None = None, **extra: Any) -> dict[str, Any]:
    member: dict[str, Any] = {"name": "李雷", "relation": "head"}
    if id_number:
        member["id_number"] = id_number
    return {
        "community_id": "xingfu",
        "grid_id": "g-01",
        "address": address,
        "members": [member],
        "contact_email": "li@example.cn",
        **extra,
    }


@pytest.mark.parametrize(
    "body",
    [_household("幸福路 9 号", ID_G2), _household("幸福路 2 号")],
    ids=["same-id-number", "same-address"],
)
async def test_a_duplicate_in_another_grid_is_named_to_no_one_outside_it(
    client: httpx.AsyncClient, grids: dict[str, str], body: dict[str, Any]
) -> None:
    answer = await client.post("/v1/households", json=body, headers=WORKER_1)

    assert answer.status_code == 409, answer.text
    problem = answer.json()
    assert problem["type"].endswith("possible-duplicate")
    assert problem["candidates"] == []
    assert problem["outside_your_grids"] is True
    assert "community staff" in problem["detail"]
    for secret in (grids["g-02"], "g-02", "id_number", "address"):
        assert secret not in answer.text.replace("allow_duplicate", ""), secret


async def test_a_duplicate_within_reach_is_named_with_its_reason(
    client: httpx.AsyncClient, grids: dict[str, str]
) -> None:
    body = _household("幸福路 9 号", ID_G2)
    answer = await client.post("/v1/households", json=body, headers=STAFF)

    assert answer.status_code == 409, answer.text
    named = [{"household_id": grids["g-02"], "reasons": ["id_number"]}]
    assert answer.json()["candidates"] == named
    assert "outside_your_grids" not in answer.json()


async def test_changing_members_to_another_grids_resident_names_no_household(
    client: httpx.AsyncClient, grids: dict[str, str]
) -> None:
    mine = await client.post("/v1/households", json=_household("幸福路 9 号"), headers=WORKER_1)
    assert mine.status_code == 201, mine.text

    answer = await client.put(
        f"/v1/households/{mine.json()['id']}/members",
        json={"version": 1, "members": [{"name": "王芳", "relation": "head", "id_number": ID_G2}]},
        headers=WORKER_1,
    )

    assert answer.status_code == 409, answer.text
    assert answer.json()["candidates"] == []
    assert grids["g-02"] not in answer.text


async def test_a_compound_in_another_grid_reads_as_unknown_in_a_write(
    client: httpx.AsyncClient, grids: dict[str, str]
) -> None:
    unknown = await client.post(
        "/v1/households",
        json=_household("幸福路 9 号", compound_id="cp-nowhere"),
        headers=WORKER_1,
    )
    elsewhere = await client.post(
        "/v1/households",
        json=_household("幸福路 9 号", compound_id="cp-g-02"),
        headers=WORKER_1,
    )
    organisation = await client.post(
        "/v1/organisations",
        json={
            "kind": "property_manager",
            "name": "物业",
            "community_id": "xingfu",
            "grid_id": "g-01",
            "compound_ids": ["cp-g-02"],
            "contact": {"email": "pm@example.cn"},
        },
        headers=WORKER_1,
    )

    assert unknown.status_code == elsewhere.status_code == organisation.status_code == 422
    assert elsewhere.json()["errors"] == [
        {**unknown.json()["errors"][0], "message": "unknown compound cp-g-02"}
    ]
    assert organisation.json()["errors"][0]["message"] == "unknown compound cp-g-02"
