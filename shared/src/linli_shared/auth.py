"""Authentication and authorisation: the one dependency every `/v1` route passes through.

Tokens are OAuth2 bearer JWTs. In production they are verified against the identity provider's
JWKS (issuer, audience, algorithms, clock skew from settings; keys cached and refreshed when a
token names an unknown key id, so the provider can rotate keys). For development and tests,
`linli token` mints tokens signed with a local dev key; production refuses that key outright.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from linli_shared.settings import PlatformSettings

ROLES = (
    "admin",
    "community_staff",
    "grid_worker",
    "inspector",
    "credit_officer",
    "partner",
    "service",
)
# Roles whose reach ends at the grids named in their token.
GRID_BOUND_ROLES = frozenset({"grid_worker", "inspector"})
DEV_ALGORITHM = "HS256"
# Tokens verified and remembered (by their exact text) until they expire; least recently used
# out first. A client sends the same token on every request until it expires: verifying its
# signature each time was ~10 % of a hot read's CPU.
VERIFIED_TOKENS_KEPT = 10_000

_bearer = HTTPBearer(auto_error=False)


class DevKeyRefused(RuntimeError):
    """Production was asked to trust the local dev key."""


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    grids: frozenset[str] = field(default_factory=frozenset)

    def has_any(self, roles: Sequence[str]) -> bool:
        return "admin" in self.roles or any(role in self.roles for role in roles)

    @property
    def grid_bound(self) -> bool:
        """True when every role this principal holds is limited to its grids."""
        return bool(self.roles) and self.roles <= GRID_BOUND_ROLES

    def may_act_in_grid(self, grid_id: str | None) -> bool:
        return not self.grid_bound or (grid_id is not None and grid_id in self.grids)


def mint_dev_token(
    settings: PlatformSettings,
    subject: str,
    roles: Sequence[str],
    grids: Sequence[str] = (),
    ttl: timedelta = timedelta(hours=8),
) -> str:
    if settings.environment == "prod":
        raise DevKeyRefused("production refuses the dev signing key: use the identity provider")
    now = datetime.now(UTC)
    claims = {
        "sub": subject,
        settings.auth_roles_claim: list(roles),
        settings.auth_grids_claim: list(grids),
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, settings.auth_dev_secret.get_secret_value(), algorithm=DEV_ALGORITHM)


class TokenVerifier:
    def __init__(self, settings: PlatformSettings, clock: Callable[[], float] = time.time) -> None:
        if settings.environment == "prod" and not settings.auth_jwks_url:
            raise DevKeyRefused("production needs LINLI_AUTH_JWKS_URL; the dev key is refused")
        self._settings = settings
        self._clock = clock
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._jwks = (
            jwt.PyJWKClient(
                settings.auth_jwks_url,
                cache_keys=True,
                lifespan=settings.auth_jwks_cache_seconds,
                cooldown_duration=settings.auth_jwks_refresh_cooldown_seconds,
                timeout=5,
            )
            if settings.auth_jwks_url
            else None
        )

    async def verify(self, token: str) -> Principal:
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, expires_at = remembered
            if self._clock() < expires_at:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
        try:
            claims = await self._claims(token)
        except (jwt.PyJWTError, DevKeyRefused) as error:
            raise _unauthenticated(f"invalid token: {error}") from error
        settings = self._settings
        roles = frozenset(
            str(role) for role in claims.get(settings.auth_roles_claim, []) if role in ROLES
        )
        principal = Principal(
            subject=str(claims["sub"]),
            roles=roles,
            grids=frozenset(str(grid) for grid in claims.get(settings.auth_grids_claim, [])),
        )
        # Until `exp` exactly (the leeway is for clock skew at verification, not for reuse).
        self._verified[token] = (principal, float(claims["exp"]))
        if len(self._verified) > VERIFIED_TOKENS_KEPT:
            self._verified.popitem(last=False)
        return principal

    async def _claims(self, token: str) -> dict[str, Any]:
        settings = self._settings
        if jwt.get_unverified_header(token).get("alg") == DEV_ALGORITHM:
            if settings.environment == "prod":
                raise DevKeyRefused("tokens signed with the dev key are refused in production")
            key: Any = settings.auth_dev_secret.get_secret_value()
            algorithms = [DEV_ALGORITHM]
        elif self._jwks is not None:
            jwks = self._jwks
            key = (await asyncio.to_thread(jwks.get_signing_key_from_jwt, token)).key
            algorithms = settings.auth_algorithms
        else:
            raise jwt.InvalidTokenError("no JWKS configured for this algorithm")
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=settings.auth_audience,
            issuer=settings.auth_issuer,
            leeway=settings.auth_leeway_seconds,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
        return claims


def _unauthenticated(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def authenticated(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> Principal:
    if credentials is None:
        raise _unauthenticated("a bearer token is required")
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = await verifier.verify(credentials.credentials)
    request.state.principal = principal
    return principal


def require_roles(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets through principals holding any of `roles` (admin always)."""

    async def check(principal: Principal = Depends(authenticated)) -> Principal:
        if not principal.has_any(roles):
            raise HTTPException(403, f"requires one of the roles: {', '.join(roles)}")
        return principal

    check.required_roles = roles  # type: ignore[attr-defined]  # read by the permission matrix
    return check


def require_grid(principal: Principal, grid_id: str | None) -> None:
    """Grid workers and inspectors act only in their grids."""
    if not principal.may_act_in_grid(grid_id):
        raise HTTPException(403, "outside the grids this token is for")
