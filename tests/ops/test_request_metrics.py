"""Every answered request is counted and timed by its route's template (never by the ids in its
path, which would make a series per household), its method and its status."""

from __future__ import annotations

import uuid

import httpx
from prometheus_client import REGISTRY

from linli_shared.auth import mint_dev_token
from linli_shared.settings import PlatformSettings


def _count(method: str, route: str, status: str) -> float:
    labels = {"service": "credit", "method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("linli_http_requests_total", labels) or 0.0


def _timed(method: str, route: str) -> float:
    labels = {"service": "credit", "method": method, "route": route}
    return REGISTRY.get_sample_value("linli_http_request_duration_seconds_count", labels) or 0.0


async def test_requests_are_counted_and_timed_by_route_template_method_and_status(
    credit_api: httpx.AsyncClient,
) -> None:
    token = mint_dev_token(PlatformSettings(), "officer", ["credit_officer"])
    officer = {"Authorization": f"Bearer {token}"}
    template = "/v1/subjects/{subject_id}/score"
    before = {
        "ok": _count("GET", "/v1/policies", "200"),
        "refused": _count("GET", template, "401"),
        "unmatched": _count("GET", "unmatched", "404"),
        "timed": _timed("GET", template),
    }

    for _ in range(3):
        assert (await credit_api.get("/v1/policies", headers=officer)).status_code == 200
    for _ in range(2):
        assert (await credit_api.get(f"/v1/subjects/{uuid.uuid4()}/score")).status_code == 401
    assert (await credit_api.get("/no/such/path")).status_code == 404

    assert _count("GET", "/v1/policies", "200") == before["ok"] + 3
    assert _count("GET", template, "401") == before["refused"] + 2
    assert _count("GET", "unmatched", "404") == before["unmatched"] + 1
    assert _timed("GET", template) == before["timed"] + 2
