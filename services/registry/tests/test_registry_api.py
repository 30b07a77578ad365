"""The registry's HTTP API on a migrated database: auth, problem+json, the happy path."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from linli_shared.auth import mint_dev_token
from linli_shared.settings import PlatformSettings
from tests.support.api import assert_problem
from tests.support.grid_scope import bearer

STAFF = bearer("community_staff")


def household(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "community_id": "c-xingfu",
        "grid_id": "g-07",
        "address": "幸福路 1 号 2 栋 301",
        "members": [
            {"name": "张三", "relation": "head"},
            {"name": "李四", "relation": "spouse"},
        ],
        "contact_email": "zhang@example.com",
    }
    body.update(overrides)
    return body


def error_fields(body: dict[str, Any]) -> set[str]:
    return {error["field"] for error in body["errors"]}


async def test_register_and_get_round_trip(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/households", json=household(), headers=STAFF)

    assert created.status_code == 201, created.text
    body = created.json()
    assert uuid.UUID(body["id"])
    assert body["community_id"] == "c-xingfu"
    assert body["grid_id"] == "g-07"
    assert body["address"] == "幸福路 1 号 2 栋 301"
    residents = [m.pop("resident_id") for m in body["members"]]
    assert body["members"] == household()["members"]
    assert len({uuid.UUID(r) for r in residents}) == len(residents)
    assert body["contact_email"] == "zhang@example.com"
    assert body["version"] == 1
    assert datetime.fromisoformat(body["registered_at"]).tzinfo is not None

    fetched = await client.get(
        f"/v1/households/{body['id']}", headers=bearer("inspector", ["g-07"])
    )
    assert fetched.status_code == 200, fetched.text
    assert [m.pop("resident_id") for m in fetched.json()["members"]] == residents
    assert {**fetched.json(), "members": body["members"]} == body


async def test_no_token_is_401_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/households", json=household())
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"

    response = await client.get(f"/v1/households/{uuid.uuid4()}")
    assert_problem(response, 401, "unauthenticated")


async def test_a_token_signed_with_another_key_is_401(client: httpx.AsyncClient) -> None:
    forged = mint_dev_token(
        PlatformSettings(auth_dev_secret="not-the-platform-key-at-all-0123456789"),
        "mallory",
        ["community_staff"],
    )
    response = await client.post(
        "/v1/households", json=household(), headers={"Authorization": f"Bearer {forged}"}
    )
    assert_problem(response, 401, "unauthenticated")


@pytest.mark.parametrize("role", ["inspector", "credit_officer", "partner", "service"])
async def test_registering_needs_a_staff_role(client: httpx.AsyncClient, role: str) -> None:
    response = await client.post("/v1/households", json=household(), headers=bearer(role))
    assert_problem(response, 403, "forbidden")


async def test_reading_is_forbidden_to_partners(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/households", json=household(), headers=STAFF)
    response = await client.get(f"/v1/households/{created.json()['id']}", headers=bearer("partner"))
    assert_problem(response, 403, "forbidden")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"contact_email": "not-an-email"}, "contact_email"),
        ({"members": []}, "members"),
        ({"community_id": ""}, "community_id"),
        ({"members": [{"name": "张三"}]}, "members.0.relation"),
        ({"nickname": "x"}, "nickname"),
    ],
    ids=["bad-email", "no-members", "empty-community", "member-without-relation", "extra-field"],
)
async def test_invalid_bodies_are_422_naming_the_field(
    client: httpx.AsyncClient, overrides: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/households", json=household(**overrides), headers=STAFF)
    body = assert_problem(response, 422, "validation-error")
    assert field in error_fields(body)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (
            {
                "members": [
                    {"name": "张三", "relation": "head"},
                    {"name": "李四", "relation": "head"},
                ]
            },
            "members",
        ),
        ({"members": [{"name": "张三", "relation": "spouse"}]}, "members"),
        ({"address": "   "}, "address"),
    ],
    ids=["two-heads", "no-head", "blank-address"],
)
async def test_domain_rule_violations_are_422_naming_the_field(
    client: httpx.AsyncClient, overrides: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/households", json=household(**overrides), headers=STAFF)
    body = assert_problem(response, 422, "validation-error")
    assert error_fields(body) == {field}
    assert body["errors"][0]["code"] == "rule_violation"


async def test_unknown_household_is_404_problem(client: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    response = await client.get(f"/v1/households/{missing}", headers=STAFF)
    body = assert_problem(response, 404, "not-found")
    assert str(missing) in body["detail"]


async def test_a_malformed_id_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/households/not-a-uuid", headers=STAFF)
    body = assert_problem(response, 422, "validation-error")
    assert any(field.split(".")[-1] == "household_id" for field in error_fields(body))


async def test_admin_may_do_anything(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/households", json=household(), headers=bearer("admin"))
    assert created.status_code == 201, created.text
