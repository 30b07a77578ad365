"""An API behind the gateway, which strips `/<service>`: its docs work under the public prefix.

The gateway (deploy/k8s/base/gateway.yaml) turns `/registry/docs` into `/docs` and
`/registry/openapi.json` into `/openapi.json`; the app gets `LINLI_ROOT_PATH=/registry`
(deploy/k8s/base/registry.yaml). Requests here are what the app receives after the rewrite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from linli_shared.settings import PlatformSettings
from tests.deploy.manifests import OVERLAYS, container_env, named, of_kind
from tests.support.infra import free_port
from tests.support.polling import eventually


@pytest.fixture
def registry_behind_the_gateway() -> Iterator[str]:
    """`linli serve registry` as the Deployment runs it, with the prefix the gateway strips."""
    port = free_port()
    environment = {
        **os.environ,
        "LINLI_ROOT_PATH": "/registry",
        "LINLI_REGISTRY_DATABASE_URL": "postgresql://linli:linli@127.0.0.1:9/linli_registry",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "linli", "serve", "registry", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_the_docs_behind_the_prefix_load_the_openapi_document_behind_it(
    registry_behind_the_gateway: str,
) -> None:
    async with httpx.AsyncClient(base_url=registry_behind_the_gateway, timeout=5) as client:

        async def docs() -> httpx.Response | None:
            try:
                return await client.get("/docs")
            except httpx.TransportError:
                return None

        # What the app receives after the gateway's rewrite of /registry/docs etc.
        page = await eventually(docs, "linli serve registry to answer", within=60)
        document = await client.get("/openapi.json")
        households = await client.get("/v1/households")
    assert page.status_code == 200
    assert "'/registry/openapi.json'" in page.text
    assert document.status_code == 200
    assert document.json()["servers"] == [{"url": "/registry"}]
    assert households.status_code == 401, "the API's routes answer without the prefix"


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
        # Only the API and its documentation are public: no /readyz, /healthz or /metrics.
        assert rewrites == {
            f"/{service}/v1": "/v1",
            f"/{service}/docs": "/docs",
            f"/{service}/openapi.json": "/openapi.json",
        }
        for rule in route["spec"]["rules"]:
            assert rule["matches"][0]["path"]["type"] == "PathPrefix"
            assert rule["backendRefs"] == [{"name": f"linli-{service}-api", "port": 80}]
        api = named(overlay, "Deployment", f"linli-{service}-api")
        assert container_env(overlay, api)["LINLI_ROOT_PATH"]["value"] == f"/{service}"
