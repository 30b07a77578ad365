"""Authentication and authorisation: the one dependency every `/v1` route passes through.

Tokens are OAuth2 bearer JWTs. In this first form they are verified with the platform's dev
signing key (HS256); JWKS verification slots in here without touching any route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

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

_bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    grids: frozenset[str] = field(default_factory=frozenset)

    def has_any(self, roles: Sequence[str]) -> bool:
        return "admin" in self.roles or any(role in self.roles for role in roles)


def mint_dev_token(
    settings: PlatformSettings,
    subject: str,
    roles: Sequence[str],
    grids: Sequence[str] = (),
    ttl: timedelta = timedelta(hours=8),
) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": subject,
        "roles": list(roles),
        "grids": list(grids),
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, settings.auth_dev_secret.get_secret_value(), algorithm="HS256")


def verify_token(settings: PlatformSettings, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            settings.auth_dev_secret.get_secret_value(),
            algorithms=["HS256"],
            audience=settings.auth_audience,
            issuer=settings.auth_issuer,
            leeway=30,
        )
    except jwt.PyJWTError as error:
        raise _unauthenticated(f"invalid token: {error}") from error
    roles = frozenset(str(role) for role in claims.get("roles", []) if role in ROLES)
    return Principal(
        subject=str(claims["sub"]),
        roles=roles,
        grids=frozenset(str(grid) for grid in claims.get("grids", [])),
    )


def _unauthenticated(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def authenticated(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> Principal:
    if credentials is None:
        raise _unauthenticated("a bearer token is required")
    settings: PlatformSettings = request.app.state.platform_settings
    return verify_token(settings, credentials.credentials)


def require_roles(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets through principals holding any of `roles` (admin always)."""

    async def check(principal: Principal = Depends(authenticated)) -> Principal:
        if not principal.has_any(roles):
            raise HTTPException(403, f"requires one of the roles: {', '.join(roles)}")
        return principal

    return check
