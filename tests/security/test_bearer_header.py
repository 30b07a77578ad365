"""The `Authorization` header as clients really send it: the scheme in any case, stray spaces,
other schemes, no token, a huge value. Read without FastAPI's `HTTPBearer` dependency (one level
less on every request), so these pin what HTTPBearer accepted and the OpenAPI it declared."""

from __future__ import annotations

import httpx
import pytest

from linli_shared.auth import mint_dev_token
from linli_shared.settings import PlatformSettings

PATH = "/v1/policies"  # credit's policy list: a role check and no database


def _token() -> str:
    return mint_dev_token(PlatformSettings(), "hall-kiosk", ["service"])


@pytest.mark.parametrize("form", ["Bearer {}", "bearer {}", "BEARER {}", "Bearer   {}  "])
async def test_a_bearer_token_is_accepted_whatever_the_case_of_the_scheme_and_the_spaces(
    credit_api: httpx.AsyncClient, form: str
) -> None:
    response = await credit_api.get(PATH, headers={"Authorization": form.format(_token())})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "Bearer",
        "Bearer    ",
        "Basic aGFsbDpraW9zaw==",
        "Token {}",
        "{}",
        "Bearer " + "A" * 60_000,
        "Bearer not.a.jwt",
    ],
)
async def test_anything_but_a_valid_bearer_token_is_a_401_problem_asking_for_one(
    credit_api: httpx.AsyncClient, value: str | None
) -> None:
    headers = {} if value is None else {"Authorization": value.format(_token())}
    response = await credit_api.get(PATH, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_every_api_operation_declares_the_bearer_scheme_and_health_does_not(
    credit_api: httpx.AsyncClient,
) -> None:
    document = (await credit_api.get("/openapi.json")).json()
    assert document["components"]["securitySchemes"] == {
        "HTTPBearer": {"type": "http", "scheme": "bearer"}
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            expected: list[dict[str, list[str]]] | None = (
                [{"HTTPBearer": []}] if path.startswith("/v1/") else None
            )
            assert operation.get("security") == expected, (method, path)
