"""The party walk: property managers, shops and residents calling a service's routes about
another organisation's or another household's objects, with tokens of their own party.

A walk lists one probe per route admitting a party role: a concrete call about the other party's
object (in the same grid, so only the party reach can refuse it). It fails when such a route is
missing from the probes, so a new route cannot forget its party check, and when a probe is
answered with anything but a refusal: 404 (the object reads as absent, whether read or changed)
or, for a list, a page without the other party's ids. A probe may name the same call about the
caller's own object: that one must succeed (200), so the walk refuses for the party, not for all.

Each probe is called with every role set whose grant of the route comes from party roles only: a
party role alone, with each other role the route does not admit, and with all of them. A second
role never widens what the party role's grant reaches (docs/security.md, "Reach with several
roles").
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from linli_shared.auth import BOUND_ROLES, ORGANISATION_ROLES, RESIDENT_ROLES, ROLES
from linli_shared.permissions import RoutePermission
from tests.support.grid_scope import bearer_of

PARTY_ROLES = ORGANISATION_ROLES | RESIDENT_ROLES
Route = tuple[str, str]


@dataclass(frozen=True)
class Party:
    """Who the walk's tokens are for: an organisation (property manager, shop) and a resident."""

    organisation_id: uuid.UUID
    resident_id: uuid.UUID

    def bearer(self, roles: Collection[str]) -> dict[str, str]:
        return bearer_of(
            roles,
            subject="party-" + "+".join(sorted(roles)),
            organisation_id=self.organisation_id,
            resident_id=self.resident_id,
        )


@dataclass(frozen=True)
class Probe:
    method: str
    path: str  # the route's template
    url: str  # the concrete call about the other party's object
    body: dict[str, Any] | None = None
    lists: bool = False  # a list: it answers, but without the other party's ids
    own: str | None = None  # the same read about the caller's own object: it succeeds
    own_role: str | None = None  # as which party role


def party_routes(permissions: Sequence[RoutePermission]) -> set[Route]:
    """The routes that admit a party role."""
    return {(p.method, p.path) for p in permissions if any(p.allows(r) for r in PARTY_ROLES)}


def party_role_sets(permission: RoutePermission) -> list[frozenset[str]]:
    """The role sets whose grant of this route comes from party roles only (no other bound role
    reaches anything here either: the tokens name no grid)."""
    admitted = set(permission.roles) | {"admin"}
    granted = admitted & PARTY_ROLES
    unbound_grant = admitted - BOUND_ROLES
    others = set(ROLES) - admitted
    sets = {frozenset({role}) for role in granted}
    sets |= {frozenset({role, other}) for role in granted for other in others}
    sets |= {frozenset({role, *others}) for role in granted}
    sets |= {frozenset({role, bound}) for role in granted for bound in admitted & BOUND_ROLES}
    return sorted((s for s in sets if not s & unbound_grant), key=lambda s: (len(s), sorted(s)))


def refused(probe: Probe, response: httpx.Response, theirs: Collection[str]) -> bool:
    """Whether the call was refused the way a party's call about another party must be."""
    if probe.lists:
        return response.status_code == 200 and not any(t in response.text for t in theirs)
    return response.status_code == 404


async def walk(
    client: httpx.AsyncClient,
    permissions: Sequence[RoutePermission],
    probes: Sequence[Probe],
    *,
    ours: Party,
    theirs: Collection[str],
    party_free: Collection[Route] = (),
) -> int:
    """Call every probe as every role set whose grant of its route is a party's only, with our
    party's token; assert each is refused, and each own call answered. Returns the calls."""
    assert party_routes(permissions) - set(party_free) == {(p.method, p.path) for p in probes}, (
        "a route admitting property managers, shops or residents is missing from the party walk"
    )
    by_route = {(p.method, p.path): p for p in permissions}
    walked = 0
    for probe in probes:
        for roles in party_role_sets(by_route[(probe.method, probe.path)]):
            response = await client.request(
                probe.method, probe.url, json=probe.body, headers=ours.bearer(roles)
            )
            assert refused(probe, response, theirs), (
                f"{'+'.join(sorted(roles))} got {response.status_code} from {probe.method} "
                f"{probe.url}: {response.text[:300]}"
            )
            walked += 1
        if probe.own is not None:
            assert probe.own_role is not None
            own = await client.request(
                probe.method, probe.own, headers=ours.bearer([probe.own_role])
            )
            assert own.status_code == 200, f"{probe.own_role}: {probe.own} -> {own.text[:300]}"
    return walked
