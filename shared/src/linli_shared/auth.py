"""Authentication and authorisation: the one dependency every `/v1` route passes through.

Tokens are OAuth2 bearer JWTs. In production they are verified against the identity provider's
JWKS (issuer, audience, algorithms, clock skew from settings; keys cached and refreshed when a
token names an unknown key id, so the provider can rotate keys). For development and tests,
`linli token` mints tokens signed with a local dev key; production refuses that key outright.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import jwt
from fastapi import HTTPException, Request

from linli_shared.settings import PlatformSettings

ROLES = (
    "admin",
    "community_staff",
    "grid_worker",
    "inspector",
    "credit_officer",
    "partner",
    "service",
    "property_manager",
    "shop",
    "resident",
    "key_reader",
)
# Roles whose reach ends at the grids named in their token.
GRID_BOUND_ROLES = frozenset({"grid_worker", "inspector"})
# Responsible parties signing in for their organisation (its organisation claim): a compound's
# property manager, a shop or unit with frontage duty. They reach only what is their
# organisation's own: its cases, its notices, its compounds and segments.
ORGANISATION_ROLES = frozenset({"property_manager", "shop"})
# A resident signing in for themself (its resident claim): they reach only their own records
# and their household's, the household the registry has them as a member of.
RESIDENT_ROLES = frozenset({"resident"})
# Every role whose reach is limited: to grids, to an organisation, or to a resident's household.
BOUND_ROLES = GRID_BOUND_ROLES | ORGANISATION_ROLES | RESIDENT_ROLES
# Roles of other systems acting as themselves, never of a person: `service` (a frontend acting
# for residents) and `key_reader` (notify's worker fetching the subject keys of crypto-shredding,
# docs/privacy.md). Nobody signs in to the console with them.
SERVICE_ROLES = frozenset({"service", "key_reader"})
DEV_ALGORITHM = "HS256"
T = TypeVar("T")
# Tokens verified and remembered (by their exact text) until they expire; least recently used
# out first. A client sends the same token on every request until it expires: verifying its
# signature each time was ~10 % of a hot read's CPU.
VERIFIED_TOKENS_KEPT = 10_000

# How the OpenAPI documents declare the bearer token (what FastAPI's HTTPBearer would add):
# linli_shared.web puts it on every /v1 operation.
BEARER_SCHEME = {"HTTPBearer": {"type": "http", "scheme": "bearer"}}


class DevKeyRefused(RuntimeError):
    """Production was asked to trust the local dev key."""


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    grids: frozenset[str] = field(default_factory=frozenset)
    # The organisation a property manager or shop acts for; the resident a resident is.
    organisation_id: uuid.UUID | None = None
    resident_id: uuid.UUID | None = None

    def has_any(self, roles: Sequence[str]) -> bool:
        return "admin" in self.roles or any(role in self.roles for role in roles)

    @property
    def grid_bound(self) -> bool:
        """True when every role this principal holds is limited to its grids."""
        return bool(self.roles) and self.roles <= GRID_BOUND_ROLES

    @property
    def bound(self) -> bool:
        """True when every role this principal holds is limited (to its grids, its organisation
        or its household): it reaches only what those roles reach, never everything."""
        return bool(self.roles) and self.roles <= BOUND_ROLES

    def acting_under(self, roles: Sequence[str]) -> Principal:
        """This principal as it acts on a permission granted to `roles` (admin always): only
        the roles that grant it count, so its reach is theirs. A second role never widens what
        another role's grant reaches: a grid worker who is also a partner still reads only her
        grids' households, unless the permission is granted to partners too."""
        return replace(self, roles=self.roles & {"admin", *roles})


def mint_dev_token(
    settings: PlatformSettings,
    subject: str,
    roles: Sequence[str],
    grids: Sequence[str] = (),
    ttl: timedelta = timedelta(hours=8),
    *,
    organisation_id: uuid.UUID | None = None,
    resident_id: uuid.UUID | None = None,
) -> str:
    if settings.environment == "prod":
        raise DevKeyRefused("production refuses the dev signing key: use the identity provider")
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        settings.auth_roles_claim: list(roles),
        settings.auth_grids_claim: list(grids),
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "iat": now,
        "exp": now + ttl,
    }
    if organisation_id is not None:
        claims[settings.auth_organisation_claim] = str(organisation_id)
    if resident_id is not None:
        claims[settings.auth_resident_claim] = str(resident_id)
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
        subject = claims["sub"]
        roles_claim = claims.get(settings.auth_roles_claim, [])
        grids_claim = claims.get(settings.auth_grids_claim, [])
        if not _is_subject(subject):
            raise _unauthenticated("invalid token: `sub` must be 1-200 printable characters")
        for name, value in (
            (settings.auth_roles_claim, roles_claim),
            (settings.auth_grids_claim, grids_claim),
        ):
            if not _is_list_of_names(value):
                raise _unauthenticated(f"invalid token: `{name}` must be a list of short strings")
        organisation_id = _party_id(claims, settings.auth_organisation_claim)
        resident_id = _party_id(claims, settings.auth_resident_claim)
        principal = Principal(
            subject=subject,
            roles=frozenset(role for role in roles_claim if role in ROLES),
            grids=frozenset(grids_claim),
            organisation_id=organisation_id,
            resident_id=resident_id,
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


def _is_subject(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 200 and value.isprintable()


def _is_list_of_names(value: object) -> bool:
    """Claims read as sets of names: a list of printable strings of at most 200 characters."""
    return isinstance(value, list) and all(
        isinstance(item, str) and len(item) <= 200 and item.isprintable() for item in value
    )


def _party_id(claims: dict[str, Any], name: str) -> uuid.UUID | None:
    """An organisation or resident claim: absent, or the party's id as a UUID string."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= 64:
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise _unauthenticated(f"invalid token: `{name}` must be an id (a UUID string)")


def _unauthenticated(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (the scheme in any case), read as
    FastAPI's `HTTPBearer` reads it; None when there is none."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    token = token.strip()
    return token if token and scheme.lower() == "bearer" else None


async def authenticated(request: Request) -> Principal:
    """The caller, verified once per request (a route's role check asks, and so may the route's
    other dependencies). It depends on nothing but the request, on purpose: FastAPI resolves
    every level of a dependency tree again on each request, and the two levels this used to
    have (the bearer scheme, then verification) cost a hot read about a quarter of its CPU."""
    # `request.state`'s dict itself: a name State lacks costs it an AttributeError, formatted.
    state: dict[str, Any] = request.scope.setdefault("state", {})
    known: Principal | None = state.get("principal")
    if known is not None:
        return known
    token = bearer_token(request)
    if token is None:
        raise _unauthenticated("a bearer token is required")
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = await verifier.verify(token)
    state["principal"] = principal  # request.state.principal, as the audit trail reads it
    return principal


def require_roles(*roles: str, admin: bool = True) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets through principals holding any of `roles` (admin always, unless
    `admin=False`: a permission that is one system's alone, such as reading subject keys)."""

    async def check(request: Request) -> Principal:
        principal = await authenticated(request)
        allowed = principal.has_any(roles) if admin else bool(principal.roles & set(roles))
        if not allowed:
            raise HTTPException(403, f"requires one of the roles: {', '.join(roles)}")
        return (
            principal.acting_under(roles)
            if admin
            else replace(principal, roles=principal.roles & set(roles))
        )

    # Read by the permission matrix.
    check.required_roles = roles  # type: ignore[attr-defined]
    check.admits_admin = admin  # type: ignore[attr-defined]
    return check


def guarded(
    build: Callable[..., Awaitable[T]], *roles: str, admin: bool = True
) -> Callable[..., Awaitable[T]]:
    """One dependency for a hot route: `require_roles(*roles, admin=admin)`'s check, then
    `build(request, principal, **params)` with the role-checked principal, whatever else the
    route needs made from it (its use cases, what it reaches). FastAPI resolves every dependency
    of a route again on each request, and each costs about what a bare FastAPI request does
    (docs/performance.md, "API reads"): a read that took the role check, its use cases and the
    caller's household as three pays for one.

    `build`'s parameters after the first two are the dependency's own (query parameters, for
    instance): FastAPI reads, validates and documents them as it would on `build` itself. The
    permission matrix reads the roles from the returned dependency as from `require_roles`."""
    check = require_roles(*roles, admin=admin)

    async def dependency(request: Request, **params: Any) -> T:
        return await build(request, await check(request), **params)

    own = list(inspect.signature(build, eval_str=True).parameters.values())[2:]
    request_parameter = inspect.Parameter(
        "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
    )
    dependency.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [request_parameter, *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own)]
    )
    dependency.required_roles = roles  # type: ignore[attr-defined]
    dependency.admits_admin = admin  # type: ignore[attr-defined]
    return dependency
