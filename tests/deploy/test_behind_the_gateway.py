"""An API behind the gateway, which strips `/<service>`: its docs work under the public prefix.

The gateway (deploy/k8s/base/gateway.yaml) turns `/registry/docs` into `/docs` and
`/registry/openapi.json` into `/openapi.json`; the app gets `LINLI_ROOT_PATH=/registry`
(deploy/k8s/base/registry.yaml). Requests here are what the app receives after the rewrite.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import uvicorn

from linli import cli
from linli_shared.settings import PlatformSettings
from tests.deploy.manifests import OVERLAYS, container_env, named, of_kind
from tests.support.grid_scope import bearer

# Where the gateway sends what it must not route (the registry's subject keys).
NOT_PUBLIC = "/not-public"


def served_as_on_kubernetes(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, dict[str, Any]]:
    """What `linli serve registry` hands uvicorn with the Deployment's LINLI_ROOT_PATH."""
    monkeypatch.setenv("LINLI_ROOT_PATH", "/registry")
    handed: dict[str, Any] = {}

    def run(app: Any, **options: Any) -> None:
        handed.update(options, app=app)

    # The process-wide logging and tracing set-up stays out of the test process.
    monkeypatch.setattr(cli, "configure_logging", lambda level: None)
    monkeypatch.setattr(cli, "configure_tracing", lambda name: None)
    monkeypatch.setattr(uvicorn, "run", run)
    cli.serve("registry", host="0.0.0.0", port=8000)
    return handed.pop("app"), handed


async def test_the_docs_behind_the_prefix_load_the_openapi_document_behind_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, options = served_as_on_kubernetes(monkeypatch)
    # The server puts its root_path into every request's scope, as uvicorn does; requests are
    # what the gateway forwards after its rewrite of /registry/docs, /registry/openapi.json, ...
    transport = httpx.ASGITransport(app=app, root_path=options.get("root_path", ""))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        page = await client.get("/docs")
        document = await client.get("/openapi.json")
        households = await client.get("/v1/households")
    assert page.status_code == 200
    assert "'/registry/openapi.json'" in page.text
    assert document.status_code == 200
    assert document.json()["servers"] == [{"url": "/registry"}]
    assert households.status_code == 401, "the API's routes answer without the prefix"


async def test_the_subject_keys_are_not_served_through_the_gateway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The gateway's longest prefix for them leads where the registry serves nothing, whoever
    asks (notify's own token included); inside the cluster the route answers."""
    app, options = served_as_on_kubernetes(monkeypatch)
    transport = httpx.ASGITransport(app=app, root_path=options.get("root_path", ""))
    subject = "3f0c3a2e-8d1b-4b7e-a1c4-6e2d9f7b3c55"
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        outside = await client.get(f"{NOT_PUBLIC}/{subject}", headers=bearer("key_reader"))
        inside = await client.get(f"/v1/subject-keys/{subject}")
    assert outside.status_code == 404
    assert outside.headers["content-type"].startswith("application/problem+json")
    assert inside.status_code == 401, "the route itself answers inside the cluster"


def test_a_root_path_is_a_path_prefix() -> None:
    with pytest.raises(ValueError, match="root_path"):
        PlatformSettings(root_path="registry/")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_api_knows_the_prefix_its_route_strips(overlay: str) -> None:
    routes = {route["metadata"]["name"]: route for route in of_kind(overlay, "HTTPRoute")}
    for service in ("registry", "inspections", "credit", "notify"):
        route = routes[f"linli-{service}"]
        rewrites = {
            rule["matches"][0]["path"]["value"]: rule["filters"][0]["urlRewrite"]["path"][
                "replacePrefixMatch"
            ]
            for rule in route["spec"]["rules"]
        }
        # Only the API and its documentation are public: no /readyz, /healthz or /metrics, and
        # not the registry's subject keys (notify's worker reaches them inside the cluster).
        internal = {"/registry/v1/subject-keys": NOT_PUBLIC} if service == "registry" else {}
        assert rewrites == {
            f"/{service}/v1": "/v1",
            f"/{service}/docs": "/docs",
            f"/{service}/openapi.json": "/openapi.json",
            **internal,
        }
        for rule in route["spec"]["rules"]:
            assert rule["matches"][0]["path"]["type"] == "PathPrefix"
            assert rule["backendRefs"] == [{"name": f"linli-{service}-api", "port": 80}]
        api = named(overlay, "Deployment", f"linli-{service}-api")
        assert container_env(overlay, api)["LINLI_ROOT_PATH"]["value"] == f"/{service}"
