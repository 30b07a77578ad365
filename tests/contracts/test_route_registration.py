"""The services' routes are registered on each app itself (`linli_shared.web.add_routes`), not
through FastAPI's lazy `include_router` branches, which match a request's routes twice: the
apps must document exactly the API that `include_router` would have given them."""

from __future__ import annotations

import json

import pytest
from fastapi import APIRouter, FastAPI
from starlette.routing import Route

import linli_shared.web
from linli.services import SERVICES
from linli_shared.permissions import route_permissions


def _included(app: FastAPI, router: APIRouter, prefix: str = "") -> None:
    app.include_router(router, prefix=prefix)


@pytest.mark.parametrize("service", list(SERVICES))
def test_routes_added_on_the_app_document_what_include_router_would(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    added = SERVICES[service].create_app()
    with monkeypatch.context() as patched:
        patched.setattr(linli_shared.web, "add_routes", _included)
        included = SERVICES[service].create_app()
    assert json.dumps(added.openapi()) == json.dumps(included.openapi())
    assert route_permissions(added) == route_permissions(included)


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_route_is_matched_once_on_the_app_itself(service: str) -> None:
    app = SERVICES[service].create_app()
    branches = [route for route in app.routes if not isinstance(route, Route)]
    assert branches == []
    assert len(app.routes) > 20  # the service's /v1 routes are among them
