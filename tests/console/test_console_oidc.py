"""The console's production sign-in: OpenID Connect Authorization Code + PKCE, in Chromium.

A tiny identity provider runs in the test (discovery, authorize that approves at once, token
endpoint that checks the PKCE verifier, JWKS); `linli run` trusts its keys. The first access
token it issues is already expired, so the console's first API call is refused and the console
must refresh the token to show its page.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse
from playwright.sync_api import expect, sync_playwright

from tests.support.browser import CHROMIUM_ARGS, ensure_chromium
from tests.support.infra import free_port

pytestmark = pytest.mark.servers  # drives Chromium

CLIENT_ID = "linli-console"
KEY_ID = "test-key-1"


class Provider:
    """The identity provider's state: issued codes with their PKCE challenges, grants seen."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, str] = {}
        self.grants: list[str] = []
        self.refresh_tokens: set[str] = set()

    def access_token(self, expired: bool) -> str:
        now = datetime.now(UTC) - (timedelta(minutes=10) if expired else timedelta())
        claims = {
            "sub": "staff-oidc",
            "roles": ["community_staff"],
            "grids": ["grid-07"],
            "iss": self.issuer,
            "aud": "linli",
            "iat": now,
            "exp": now + timedelta(minutes=5),
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KEY_ID})

    def app(self) -> FastAPI:
        app = FastAPI()
        app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"])

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, str]:
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
            }

        @app.get("/jwks")
        async def jwks() -> dict[str, Any]:
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
            return {"keys": [{**public, "kid": KEY_ID, "use": "sig", "alg": "RS256"}]}

        @app.get("/authorize")
        async def authorize(
            response_type: str,
            client_id: str,
            redirect_uri: str,
            state: str,
            code_challenge: str,
            code_challenge_method: str,
        ) -> RedirectResponse:
            if response_type != "code" or client_id != CLIENT_ID or code_challenge_method != "S256":
                raise HTTPException(400, "bad authorization request")
            code = secrets.token_urlsafe(16)
            self.codes[code] = code_challenge
            return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}")

        @app.post("/token")
        async def token(request: Request) -> dict[str, Any]:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            grant_type = form.get("grant_type", "")
            code, code_verifier = form.get("code"), form.get("code_verifier")
            refresh_token = form.get("refresh_token")
            if form.get("client_id") != CLIENT_ID:
                raise HTTPException(400, "invalid_client")
            self.grants.append(grant_type)
            if grant_type == "authorization_code":
                challenge = self.codes.pop(code or "", None)
                digest = hashlib.sha256((code_verifier or "").encode()).digest()
                if challenge != base64.urlsafe_b64encode(digest).rstrip(b"=").decode():
                    raise HTTPException(400, "invalid_grant: PKCE verifier does not match")
                expired = True  # the console must refresh before its first call succeeds
            elif grant_type == "refresh_token" and refresh_token in self.refresh_tokens:
                expired = False
            else:
                raise HTTPException(400, "invalid_grant")
            fresh = secrets.token_urlsafe(16)
            self.refresh_tokens.add(fresh)
            return {
                "access_token": self.access_token(expired),
                "refresh_token": fresh,
                "token_type": "Bearer",
                "expires_in": 300,
            }

        return app


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    port = free_port()
    provider = Provider(f"http://127.0.0.1:{port}")
    server = uvicorn.Server(
        uvicorn.Config(provider.app(), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield provider
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def platform(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("console-oidc")
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    environment.update(
        {
            "LINLI_ENVIRONMENT": "test",
            "LINLI_AUTH_JWKS_URL": f"{provider.issuer}/jwks",
            "LINLI_AUTH_ISSUER": provider.issuer,
            "LINLI_AUTH_LEEWAY_SECONDS": "0",
            "LINLI_CONSOLE_OIDC_DISCOVERY_URL": (
                f"{provider.issuer}/.well-known/openid-configuration"
            ),
            "LINLI_CONSOLE_OIDC_CLIENT_ID": CLIENT_ID,
        }
    )
    log_path = folder / "linli.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "linli", "run", "--port", str(port), "--data-dir", str(folder)],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log_path)
        yield url
    finally:
        process.terminate()
        process.wait(120)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"linli run exited:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("linli run did not become ready")


def test_staff_sign_in_with_oidc_and_pkce_refresh_the_token_and_sign_out(
    provider: Provider, platform: str
) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(ensure_chromium()), args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.goto(f"{platform}/console/")
        page.get_by_role("button", name="用统一身份认证登录").click()

        # Back from the provider: signed in as the token's user; the first call was refused
        # (expired token) and succeeded after a refresh.
        expect(page.get_by_role("region", name="网格 grid-07")).to_be_visible()
        assert provider.grants == ["authorization_code", "refresh_token"]
        assert "code=" not in page.url, "the code is removed from the address bar"
        assert page.evaluate("() => sessionStorage.length") == 0, "the PKCE verifier is gone"
        assert page.evaluate("() => JSON.stringify(localStorage)").find("eyJ") == -1

        page.get_by_role("button", name="退出").click()
        expect(page.get_by_role("button", name="用统一身份认证登录")).to_be_visible()
        expect(page.get_by_role("link", name="今日")).to_have_count(0)
        browser.close()
