"""Residents, property managers and shops signed in for themselves, over HTTP against a real
PostgreSQL. A resident (resident claim: the resident id the registry gave a household member)
reads their own household, records its consent and downloads a copy of their data; a property
manager or shop reads its own organisation and the compounds it manages. Nothing of another
household or organisation: its id in the URL is 404, searches and lists leave it out, whatever
they filter by.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support.api import assert_problem
from tests.support.grid_scope import bearer

ADMIN = bearer("admin")
STAFF = bearer("community_staff")
ID_NUMBER = "11010519491231002X"


async def _created(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"/v1/{path}", json=body, headers=STAFF)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture
async def neighbourhood(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Two households of one grid (ours with an ID number and a phone) and two property
    managers, each of its compound."""
    await _created(client, "communities", {"id": "xingfu", "name": "幸福社区"})
    await _created(client, "grids", {"id": "g-01", "community_id": "xingfu", "name": "一网格"})
    found: dict[str, dict[str, Any]] = {}
    for party in ("ours", "theirs"):
        await _created(
            client,
            "compounds",
            {
                "id": f"cp-{party}",
                "community_id": "xingfu",
                "grid_id": "g-01",
                "name": f"花园 {party}",
                "address": f"{party} 路 1 号",
            },
        )
        found[f"{party}-manager"] = await _created(
            client,
            "organisations",
            {
                "kind": "property_manager",
                "name": f"物业 {party}",
                "community_id": "xingfu",
                "grid_id": "g-01",
                "compound_ids": [f"cp-{party}"],
                "contact": {"email": f"pm-{party}@example.cn"},
            },
        )
        head: dict[str, Any] = {"name": f"户主 {party}", "relation": "head"}
        if party == "ours":
            head |= {"id_number": ID_NUMBER, "phone": "13800135678"}
        found[party] = await _created(
            client,
            "households",
            {
                "community_id": "xingfu",
                "grid_id": "g-01",
                "address": f"{party} 路 8 号",
                "members": [head, {"name": f"家属 {party}", "relation": "spouse"}],
                "contact_email": f"hh-{party}@example.cn",
            },
        )
    return found


def resident_of(household: dict[str, Any], position: int = 0) -> dict[str, str]:
    resident_id = uuid.UUID(household["members"][position]["resident_id"])
    return bearer("resident", subject=f"person-{resident_id}", resident_id=resident_id)


async def test_a_resident_reads_their_household_and_finds_no_other(
    client: httpx.AsyncClient, neighbourhood: dict[str, dict[str, Any]]
) -> None:
    ours, theirs = neighbourhood["ours"], neighbourhood["theirs"]
    for me in (resident_of(ours, 0), resident_of(ours, 1)):  # every member of the household
        own = await client.get(f"/v1/households/{ours['id']}", headers=me)
        assert own.status_code == 200, own.text
        assert own.json()["members"][0]["id_number"] == "1****************X", "masked"
        assert_problem(
            await client.get(f"/v1/households/{theirs['id']}", headers=me), 404, "not-found"
        )
        for params in (
            {},
            {"grid_id": "g-01"},
            {"name": "户主 theirs"},
            {"address": "theirs"},
            {"community_id": "xingfu", "status": "active"},
        ):
            found = await client.get("/v1/households", params=params, headers=me)
            assert found.status_code == 200, found.text
            assert {h["id"] for h in found.json()["items"]} <= {ours["id"]}
            assert "theirs" not in found.text
        assert_problem(
            await client.get(f"/v1/households/{ours['id']}?reveal=true", headers=me),
            403,
            "forbidden",
        )
    # Nor the places and organisations that staff read.
    me = resident_of(ours)
    for path in (
        "/v1/organisations",
        "/v1/compounds",
        "/v1/grids",
        f"/v1/households/{ours['id']}/history",
    ):
        assert_problem(await client.get(path, headers=me), 403, "forbidden")


async def test_a_resident_records_their_households_consent_and_no_other(
    client: httpx.AsyncClient, neighbourhood: dict[str, dict[str, Any]]
) -> None:
    ours, theirs = neighbourhood["ours"], neighbourhood["theirs"]
    me = resident_of(ours, 1)
    consent = {"version": ours["version"], "integrity_scoring": True, "notice_channels": ["inbox"]}
    recorded = await client.put(f"/v1/households/{ours['id']}/consent", json=consent, headers=me)
    assert recorded.status_code == 200, recorded.text
    resident_id = ours["members"][1]["resident_id"]
    assert recorded.json()["consent"]["recorded_by"] == f"resident:{resident_id}"
    refused = await client.put(
        f"/v1/households/{theirs['id']}/consent",
        json={**consent, "version": theirs["version"]},
        headers=me,
    )
    assert_problem(refused, 404, "not-found")
    # Everything else about the household stays staff's.
    assert_problem(
        await client.put(
            f"/v1/households/{ours['id']}/contact",
            json={"version": recorded.json()["version"], "email": "me@example.cn"},
            headers=me,
        ),
        403,
        "forbidden",
    )


async def test_a_resident_downloads_a_copy_of_their_own_data_only(
    client: httpx.AsyncClient, neighbourhood: dict[str, dict[str, Any]]
) -> None:
    ours, theirs = neighbourhood["ours"], neighbourhood["theirs"]
    head, spouse = ours["members"][0]["resident_id"], ours["members"][1]["resident_id"]
    copy = await client.get(f"/v1/residents/{head}/data-copy", headers=resident_of(ours, 0))
    assert copy.status_code == 200, copy.text
    body = copy.json()
    assert body["resident_id"] == head
    assert body["you"]["id_number"] == ID_NUMBER and body["you"]["phone"] == "13800135678"
    assert body["household"]["id"] == ours["id"]
    assert body["history"][0]["change"] == "registered"

    # The spouse's copy shows the head's data masked; nobody gets another's copy.
    spouse_copy = (
        await client.get(f"/v1/residents/{spouse}/data-copy", headers=resident_of(ours, 1))
    ).json()
    assert ID_NUMBER not in str(spouse_copy)
    for resident_id in (spouse, theirs["members"][0]["resident_id"], str(uuid.uuid4())):
        assert_problem(
            await client.get(
                f"/v1/residents/{resident_id}/data-copy", headers=resident_of(ours, 0)
            ),
            404,
            "not-found",
        )
    # Staff do not download residents' copies; admins may (each is audited).
    assert_problem(
        await client.get(f"/v1/residents/{head}/data-copy", headers=STAFF), 403, "forbidden"
    )
    trail = await client.get("/v1/audit", params={"action": "personal-data-read"}, headers=ADMIN)
    assert any(
        entry["path"] == f"/v1/residents/{head}/data-copy" for entry in trail.json()["items"]
    ), trail.text


async def test_a_property_manager_reads_its_organisation_and_compounds_only(
    client: httpx.AsyncClient, neighbourhood: dict[str, dict[str, Any]]
) -> None:
    ours, theirs = neighbourhood["ours-manager"], neighbourhood["theirs-manager"]
    manager = bearer("property_manager", subject="anju", organisation_id=uuid.UUID(ours["id"]))
    own = await client.get(f"/v1/organisations/{ours['id']}", headers=manager)
    assert own.status_code == 200 and own.json()["compound_ids"] == ["cp-ours"]
    assert_problem(
        await client.get(f"/v1/organisations/{theirs['id']}", headers=manager), 404, "not-found"
    )
    for params in ({}, {"grid_id": "g-01"}, {"kind": "property_manager"}, {"name": "物业"}):
        listed = await client.get("/v1/organisations", params=params, headers=manager)
        assert [o["id"] for o in listed.json()["items"]] == [ours["id"]]
    compounds = await client.get("/v1/compounds", params={"grid_id": "g-01"}, headers=manager)
    assert [c["id"] for c in compounds.json()["items"]] == ["cp-ours"]
    assert (await client.get("/v1/compounds/cp-ours", headers=manager)).status_code == 200
    assert_problem(await client.get("/v1/compounds/cp-theirs", headers=manager), 404, "not-found")
    # Households are not an organisation's to read.
    assert_problem(await client.get("/v1/households", headers=manager), 403, "forbidden")


async def test_a_party_token_without_its_claim_reaches_nothing(
    client: httpx.AsyncClient, neighbourhood: dict[str, dict[str, Any]]
) -> None:
    resident = bearer("resident")
    assert (await client.get("/v1/households", headers=resident)).json()["items"] == []
    assert_problem(
        await client.get(f"/v1/households/{neighbourhood['ours']['id']}", headers=resident),
        404,
        "not-found",
    )
    shop = bearer("shop")
    assert (await client.get("/v1/organisations", headers=shop)).json()["items"] == []
    assert (await client.get("/v1/compounds", headers=shop)).json()["items"] == []
