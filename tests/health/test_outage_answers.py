"""What an API answers while its database is away: a 503 problem the client may retry, made
inside the app like any other answer, so it carries the request's correlation id, is counted
by the request metrics and is not logged as a crash of the server."""

from __future__ import annotations

import uuid

from prometheus_client import REGISTRY

from linli_credit.app import create_app
from linli_credit.settings import CreditSettings
from linli_registry.app import create_app as create_registry_app
from linli_registry.settings import RegistrySettings
from linli_shared.auth import mint_dev_token
from linli_shared.settings import PlatformSettings
from linli_shared.web import CORRELATION_HEADER
from tests.support.api import api_client, assert_problem
from tests.support.infra import free_port

OFFICER = {
    "Authorization": "Bearer " + mint_dev_token(PlatformSettings(), "officer", ["credit_officer"]),
    CORRELATION_HEADER: "outage-1",
}
SCORE = "/v1/subjects/{subject_id}/score"


def _answered(status: str) -> float:
    labels = {"service": "credit", "method": "GET", "route": SCORE, "status": status}
    return REGISTRY.get_sample_value("linli_http_requests_total", labels) or 0.0


async def test_a_read_while_the_database_is_away_is_a_503_with_its_correlation_id() -> None:
    settings = CreditSettings(
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere"
    )
    before = _answered("503")
    # The transport raises what the app lets escape: the old answer (the catch-all handler's,
    # which Starlette sends from outside the middleware and then raises again) failed here.
    async with api_client(create_app(settings)) as client:
        response = await client.get(f"/v1/subjects/{uuid.uuid4()}/score", headers=OFFICER)
    assert_problem(response, 503, "service-unavailable")
    assert response.headers["retry-after"] == "1"
    assert response.headers[CORRELATION_HEADER] == "outage-1"
    assert _answered("503") == before + 1


async def test_a_write_while_the_database_is_away_is_a_503_with_its_correlation_id() -> None:
    """Through SQLAlchemy's engine (the read above is on asyncpg's pool), with an audit entry
    that cannot be written either: still a 503 the client may retry, nothing made."""
    settings = RegistrySettings(
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere"
    )
    staff = {
        "Authorization": "Bearer "
        + mint_dev_token(PlatformSettings(), "staff", ["community_staff"], ["g-07"]),
        CORRELATION_HEADER: "outage-2",
    }
    household = {
        "community_id": "c-xingfu",
        "grid_id": "g-07",
        "address": "幸福路 1 号 2 栋 301",
        "members": [{"name": "张三", "relation": "head"}],
        "contact_email": "zhang@example.com",
    }
    async with api_client(create_registry_app(settings)) as client:
        response = await client.post("/v1/households", json=household, headers=staff)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "1"
    assert response.headers[CORRELATION_HEADER] == "outage-2"
