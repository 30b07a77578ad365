"""What a caller learns from the registry beyond what it may read (issue 15): masks, searches
and the duplicate check are no window into ID numbers, phones or other grids. In process, over
HTTP, against a real PostgreSQL; tests/security/test_attacks_masks.py plays the attacks against
the running platform."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from linli_registry.domain.personal import id_check_digit
from tests.support.grid_scope import bearer
from tests.support.masks import without_ids_and_times

STAFF = bearer("community_staff")
WORKER_1 = bearer("grid_worker", ["g-01"])


def valid_id(first17: str) -> str:
    return first17 + id_check_digit(first17)


ID_G2 = valid_id("11010519491231002")


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
    # Community staff reach every grid: to them the same answer names the household and why.
    named = (await client.post("/v1/households", json=body, headers=STAFF)).json()
    assert [c["household_id"] for c in named["candidates"]] == [grids["g-02"]]
    assert "outside_your_grids" not in named


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


READERS_WITHOUT_REVEAL = {
    "grid_worker": bearer("grid_worker", ["g-02"]),
    "inspector": bearer("inspector", ["g-02"]),
    "credit_officer": bearer("credit_officer"),
    "service": bearer("service"),
}


@pytest.mark.parametrize("role", sorted(READERS_WITHOUT_REVEAL))
async def test_a_reader_without_the_reveal_right_sees_only_the_first_and_last_character(
    client: httpx.AsyncClient, grids: dict[str, str], role: str
) -> None:
    who = READERS_WITHOUT_REVEAL[role]
    read = await client.get(f"/v1/households/{grids['g-02']}", headers=who)
    found = await client.get("/v1/households", params={"name": "王芳"}, headers=who)

    for response in (read, found):
        assert response.status_code == 200, response.text
        # Neither the region, nor the birth date (in any spelling), nor the sequence number.
        said = without_ids_and_times(response.text)
        for part in (ID_G2[1:6], ID_G2[6:14], "1949-12-31", ID_G2[14:17]):
            assert part not in said, (role, part)
    member = read.json()["members"][0]
    assert member["id_number"] == ID_G2[0] + "*" * 16 + ID_G2[-1]
    assert "birth_date" not in member


@pytest.mark.parametrize("role", sorted(READERS_WITHOUT_REVEAL))
async def test_a_reader_without_the_reveal_right_may_not_search_by_the_tail(
    client: httpx.AsyncClient, grids: dict[str, str], role: str
) -> None:
    answer = await client.get(
        "/v1/households",
        params={"id_tail": ID_G2[-4:]},
        headers=READERS_WITHOUT_REVEAL[role],
    )

    assert answer.status_code == 403, answer.text
    assert "id_tail" in answer.json()["detail"]


async def test_the_whole_id_number_finds_the_household_and_the_search_is_audited(
    client: httpx.AsyncClient, grids: dict[str, str]
) -> None:
    worker = bearer("grid_worker", ["g-02"])
    wrong = valid_id("11010519491231003")

    found = await client.get("/v1/households", params={"id_number": ID_G2.lower()}, headers=worker)
    missed = await client.get("/v1/households", params={"id_number": wrong}, headers=worker)
    invalid = await client.get(
        "/v1/households", params={"id_number": ID_G2[:17] + "0"}, headers=worker
    )
    elsewhere = await client.get("/v1/households", params={"id_number": ID_G2}, headers=WORKER_1)

    assert [h["id"] for h in found.json()["items"]] == [grids["g-02"]]
    assert missed.json()["items"] == elsewhere.json()["items"] == []
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["field"] == "id_number"
    trail = await client.get(
        "/v1/audit", params={"action": "personal-data-read"}, headers=bearer("admin")
    )
    searched = [e for e in trail.json()["items"] if e["path"] == "/v1/households"]
    assert len(searched) == 3  # found, missed and the other grid's; the refused one changed nothing


async def test_community_staff_may_search_by_the_tail_and_it_is_audited(
    client: httpx.AsyncClient, grids: dict[str, str]
) -> None:
    found = await client.get("/v1/households", params={"id_tail": ID_G2[-4:]}, headers=STAFF)

    assert [h["id"] for h in found.json()["items"]] == [grids["g-02"]]
    trail = await client.get(
        "/v1/audit", params={"action": "personal-data-read"}, headers=bearer("admin")
    )
    assert [e["path"] for e in trail.json()["items"]] == ["/v1/households"]


async def test_a_resident_known_only_in_another_grid_gets_a_new_resident_id(
    client: httpx.AsyncClient, grids: dict[str, str]
) -> None:
    theirs = await client.get(f"/v1/households/{grids['g-02']}", headers=STAFF)
    body = _household("幸福路 9 号", ID_G2, allow_duplicate=True)

    registered = await client.post("/v1/households", json=body, headers=WORKER_1)

    assert registered.status_code == 201, registered.text
    resident = theirs.json()["members"][0]["resident_id"]
    assert registered.json()["members"][0]["resident_id"] != resident
