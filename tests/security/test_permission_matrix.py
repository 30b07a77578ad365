"""Walk the whole permission matrix: every `/v1` route × every role, through the real apps.

A role the route does not admit gets 403 before anything else happens; a role it admits is
never refused for its role (whatever the handler then answers without a database). No token at
all gets 401 everywhere. The documented matrix (docs/security.md) is the one the code enforces.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import MetaData, create_engine

from linli.services import SERVICES
from linli_shared.audit import audit_table
from linli_shared.auth import ROLES, mint_dev_token
from linli_shared.permissions import matrix_markdown, route_permissions
from linli_shared.settings import PlatformSettings
from linli_shared.web import create_service_app

REPO = Path(__file__).resolve().parents[2]


def _apps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, FastAPI]:
    """Each service's app on a throwaway database holding only its audit trail: authorisation
    needs no other table, and a refused write is still recorded (or the answer is a 503)."""
    for name in SERVICES:
        url = f"sqlite:///{tmp_path / name}.db"
        engine = create_engine(url)
        audit_table(MetaData()).create(engine)
        engine.dispose()
        monkeypatch.setenv(f"LINLI_{name.upper()}_DATABASE_URL", url)
    return {name: definition.create_app() for name, definition in SERVICES.items()}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


async def test_every_route_admits_exactly_its_roles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = PlatformSettings()
    # Every token names a grid, an organisation and a resident: the role alone decides.
    tokens = {
        role: mint_dev_token(
            settings,
            f"{role}-user",
            [role],
            grids=["grid-1"],
            organisation_id=uuid.uuid4(),
            resident_id=uuid.uuid4(),
        )
        for role in ROLES
    }
    walked = 0
    for service, app in _apps(tmp_path, monkeypatch).items():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for permission in route_permissions(app):
                url = _concrete(permission.path)
                anonymous = await client.request(permission.method, url)
                assert anonymous.status_code == 401, (service, permission)
                assert permission.declared, f"{service} {permission} has no role check"
                for role in ROLES:
                    response = await client.request(
                        permission.method,
                        url,
                        headers={"Authorization": f"Bearer {tokens[role]}"},
                    )
                    refused = response.status_code == 403 and "requires one of the roles" in (
                        response.text
                    )
                    assert refused != permission.allows(role), (
                        f"{service} {permission.method} {permission.path} as {role}: "
                        f"{response.status_code} {response.text[:200]}"
                    )
                    walked += 1
    assert walked > 100


def test_the_documented_matrix_is_the_enforced_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    documented = (REPO / "docs" / "security.md").read_text()
    enforced = matrix_markdown(_apps(tmp_path, monkeypatch))
    assert enforced in documented, "docs/security.md is stale: run `linli permissions`"


def test_an_app_with_a_route_that_checks_no_role_is_not_built() -> None:
    """No router-wide dependency stands behind the role checks: a route without one would answer
    anybody, so building the app refuses it (and names it)."""
    router = APIRouter()

    @router.get("/forgotten")
    async def forgotten() -> dict[str, str]:
        return {"status": "anyone may read this"}

    with pytest.raises(RuntimeError, match="GET /v1/forgotten"):
        create_service_app(
            title="Linli Test",
            description="",
            platform=PlatformSettings(),
            routers=[router],
            readiness_checks={},
        )
