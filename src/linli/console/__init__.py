"""The staff console: a browser frontend served at `/console/`, talking only to the public APIs.

This module serves static files and two small documents the page needs before it can call the
APIs: `config.json` (where the APIs are, how to sign in, the community's time zone) and, outside
production, a dev sign-in that mints a token with the local dev key exactly as `linli token`
does. Everything else the console shows comes from the services' own `/v1` APIs, called from the
browser with a bearer token, as a third-party frontend would.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from linli_shared.auth import (
    ORGANISATION_ROLES,
    RESIDENT_ROLES,
    ROLES,
    SERVICE_ROLES,
    DevKeyRefused,
    mint_dev_token,
)
from linli_shared.errors import install_problem_handlers, problem_response
from linli_shared.settings import PlatformSettings

STATIC = Path(__file__).parent / "static"
PARTY_ROLES = ORGANISATION_ROLES | RESIDENT_ROLES
# Staff roles only: other systems (`service`, `key_reader`) and the parties acting for themselves
# (property managers, shops, residents) have frontends of their own.
SIGN_IN_ROLES = tuple(role for role in ROLES if role not in SERVICE_ROLES | PARTY_ROLES)
SERVICE_WORKER = STATIC / "sw.js"


def shell_version() -> str:
    """A hash of every static file: any change in a release makes a new service worker."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


class ConsoleSettings(BaseSettings):
    """`LINLI_CONSOLE_*`: where the console finds the APIs and the identity provider."""

    model_config = SettingsConfigDict(env_prefix="LINLI_CONSOLE_", extra="ignore")

    # Same-origin by default (`linli run` mounts every service under its name); a deployment
    # with its own host per service names them here (and allows the console's origin in CORS).
    registry_url: str = "/registry"
    inspections_url: str = "/inspections"
    credit_url: str = "/credit"
    notify_url: str = "/notify"
    time_zone: str = Field(default="Asia/Shanghai", description="The community's time zone")
    oidc_discovery_url: str | None = Field(
        default=None, description="The identity provider's /.well-known/openid-configuration"
    )
    oidc_client_id: str | None = None
    oidc_scopes: str = "openid profile"


class DevSignIn(BaseModel):
    subject: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._@-]+$")
    roles: list[str] = Field(min_length=1, max_length=len(SIGN_IN_ROLES))
    grids: list[str] = Field(default_factory=list, max_length=50)


def console_app(
    settings: ConsoleSettings | None = None, platform: PlatformSettings | None = None
) -> FastAPI:
    console = settings or ConsoleSettings()
    platform_settings = platform or PlatformSettings()
    app = FastAPI(title="Linli staff console", docs_url=None, redoc_url=None, openapi_url=None)
    install_problem_handlers(app)
    dev_sign_in = platform_settings.environment != "prod"

    @app.get("/config.json", include_in_schema=False)
    async def config() -> dict[str, object]:
        return {
            "apis": {
                "registry": console.registry_url,
                "inspections": console.inspections_url,
                "credit": console.credit_url,
                "notify": console.notify_url,
            },
            "time_zone": console.time_zone,
            "dev_sign_in": dev_sign_in,
            "roles": list(SIGN_IN_ROLES),
            "roles_claim": platform_settings.auth_roles_claim,
            "grids_claim": platform_settings.auth_grids_claim,
            "oidc": (
                {
                    "discovery_url": console.oidc_discovery_url,
                    "client_id": console.oidc_client_id,
                    "scopes": console.oidc_scopes,
                }
                if console.oidc_discovery_url and console.oidc_client_id
                else None
            ),
        }

    @app.post("/dev-token", include_in_schema=False, response_model=None)
    async def dev_token(body: DevSignIn, request: Request) -> dict[str, str] | JSONResponse:
        unknown = [role for role in body.roles if role not in SIGN_IN_ROLES]
        if unknown:
            return problem_response(
                request, 422, "unknown-role", "Unknown role", f"roles: {', '.join(unknown)}"
            )
        try:
            token = mint_dev_token(platform_settings, body.subject, body.roles, body.grids)
        except DevKeyRefused as refused:
            return problem_response(request, 403, "dev-key-refused", "Refused", str(refused))
        return {"access_token": token, "token_type": "Bearer"}

    worker = SERVICE_WORKER.read_text(encoding="utf-8").replace(
        "__SHELL_VERSION__", shell_version()
    )

    @app.get("/sw.js", include_in_schema=False)
    async def service_worker() -> Response:
        # Always checked with the server, so a new release's worker is found at the next start.
        return Response(
            worker,
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache"},
        )

    app.mount("/", StaticFiles(directory=STATIC, html=True), name="static")
    return app
