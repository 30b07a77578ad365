"""The grid walk: grid-bound roles (grid workers, inspectors) calling a service's routes about
another grid's objects, and the tokens and households such tests set up.

A walk lists one probe per route (a concrete call about an object of the other grid). It fails
when a route admitting a grid-bound role is missing from the probes, so a new route cannot
forget its grid check, and when a probe is answered with anything but a refusal: 404 (the object
reads as absent), 403 `outside-grids` (a write naming the other grid), or, for a list, a page
without the other grid's items.

Each probe is called with every role set whose grant of the route is only grid-bound: a bound
role alone, with each other role, and with all the roles the route does not admit. A second role
never widens what the bound role's grant reaches (docs/security.md, "Reach with several roles").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from typing import Any

import httpx

from linli_shared.auth import BOUND_ROLES, GRID_BOUND_ROLES, ROLES, mint_dev_token
from linli_shared.context import event_context
from linli_shared.contracts import HouseholdMoved, HouseholdRegistered
from linli_shared.contracts.base import EventData
from linli_shared.contracts.registry import ConsentV1, ContactV1, MemberV1
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.processing import Subscription
from linli_shared.permissions import RoutePermission
from linli_shared.settings import PlatformSettings

THEIRS, OURS = "grid-theirs", "grid-ours"
COMMUNITY = "xingfu"

Route = tuple[str, str]
Item = dict[str, Any]


def bearer(
    role: str,
    grids: Sequence[str] = (),
    subject: str | None = None,
    *,
    organisation_id: uuid.UUID | None = None,
    resident_id: uuid.UUID | None = None,
) -> dict[str, str]:
    return bearer_of(
        [role], grids, subject, organisation_id=organisation_id, resident_id=resident_id
    )


def bearer_of(
    roles: Iterable[str],
    grids: Sequence[str] = (),
    subject: str | None = None,
    *,
    organisation_id: uuid.UUID | None = None,
    resident_id: uuid.UUID | None = None,
) -> dict[str, str]:
    """A dev token of these roles, grids and (for the parties) organisation or resident."""
    roles = sorted(roles)
    token = mint_dev_token(
        PlatformSettings(),
        subject or "+".join(roles),
        roles,
        grids,
        organisation_id=organisation_id,
        resident_id=resident_id,
    )
    return {"Authorization": f"Bearer {token}"}


def bound_role_sets(permission: RoutePermission) -> list[frozenset[str]]:
    """The role sets (one role, two roles, and a bound role with every role the route does not
    admit) whose grant of this route comes from bound roles only: each must reach only the
    token's grids, whatever else it holds. (The walk's tokens name no organisation or resident,
    so a party role's grant reaches nothing of its own: a party role adds nothing.)"""
    admitted = set(permission.roles) | {"admin"}
    unbound_grant = admitted - BOUND_ROLES
    others = set(ROLES) - admitted
    candidates = {frozenset(c) for size in (1, 2) for c in combinations(ROLES, size)}
    candidates |= {frozenset({role, *others}) for role in GRID_BOUND_ROLES}
    return sorted(
        (s for s in candidates if s & admitted and not s & unbound_grant),
        key=lambda s: (len(s), sorted(s)),
    )


ADMIN = bearer("admin")


def household_in(
    grid_id: str,
    household_id: uuid.UUID | None = None,
    *,
    resident_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> HouseholdRegistered:
    """A household registered in `grid_id` that consents to scoring and reads its notices in
    the app (so a notice to it is delivered without a mail server)."""
    return HouseholdRegistered(
        household_id=household_id or uuid.uuid4(),
        community_id=COMMUNITY,
        grid_id=grid_id,
        address=f"{grid_id} 1 号",
        members=[MemberV1(name="张伟", relation="head", resident_id=resident_id)],
        contact_email="zhang@example.cn",
        contact=ContactV1(preferred_channels=["inbox"]),
        consent=ConsentV1(integrity_scoring=True, notice_channels=["inbox"]),
        registered_at=at or datetime.now(UTC),
    )


def moved_to(grid_id: str, household_id: uuid.UUID, version: int = 2) -> HouseholdMoved:
    return HouseholdMoved(
        household_id=household_id,
        community_id=COMMUNITY,
        grid_id=grid_id,
        address=f"{grid_id} 9 号",
        moved_at=datetime.now(UTC),
        version=version,
    )


async def consume(
    subscriptions: Sequence[Subscription], database: Database, event: EventData
) -> str:
    """What a service's consumer does with one event: the handler its subscription names for
    the event's type, in one transaction. Returns the event id (an entry's or notice's source)."""
    [handler] = [h for s in subscriptions if (h := s.handler_for(event.event_type)) is not None]
    envelope = Envelope(
        id=f"evt-{uuid.uuid4()}",
        type=event.event_type,
        source="/test",
        subject=event.partition_key(),
        time=datetime.now(UTC),
        data=event.model_dump(mode="json"),
        correlation_id=f"corr-{uuid.uuid4()}",
    )
    with event_context(envelope.correlation_id, causation_id=envelope.id):
        async with database.transaction() as connection:
            await handler(connection, event, envelope)
    return envelope.id


@dataclass(frozen=True)
class Probe:
    method: str
    path: str  # the route's template
    url: str  # the concrete call about the other grid
    body: dict[str, Any] | None = None
    lists: bool = False  # a list: it answers, but without the other grid's items


def outside_grids(response: httpx.Response) -> bool:
    return response.status_code == 403 and str(response.json()["type"]).endswith("outside-grids")


def refused(probe: Probe, response: httpx.Response, theirs: Callable[[Item], bool]) -> bool:
    """Whether the call was refused the way its kind of route must refuse another grid."""
    if probe.lists:
        return response.status_code == 200 and not any(
            theirs(item) for item in response.json()["items"]
        )
    return outside_grids(response) or response.status_code == 404


def grid_routes(permissions: Sequence[RoutePermission]) -> set[Route]:
    """The routes that admit a grid-bound role."""
    return {(p.method, p.path) for p in permissions if any(p.allows(r) for r in GRID_BOUND_ROLES)}


async def walk(
    client: httpx.AsyncClient,
    permissions: Sequence[RoutePermission],
    probes: Sequence[Probe],
    *,
    grid_free: Collection[Route],
    is_refused: Callable[[Probe, httpx.Response], bool],
) -> int:
    """Call every probe as every role set whose grant of its route is grid-bound only, with a
    token for OURS only; assert each is refused. Returns how many calls were walked."""
    walked_routes = {(p.method, p.path) for p in probes}
    assert grid_routes(permissions) - set(grid_free) == walked_routes, (
        "a route admitting grid workers or inspectors is missing from the grid walk"
    )
    by_route = {(p.method, p.path): p for p in permissions}
    walked = 0
    for probe in probes:
        for roles in bound_role_sets(by_route[(probe.method, probe.path)]):
            response = await client.request(
                probe.method, probe.url, json=probe.body, headers=bearer_of(roles, [OURS])
            )
            assert is_refused(probe, response), (
                f"{'+'.join(sorted(roles))} of {OURS} got {response.status_code} from "
                f"{probe.method} {probe.url}: {response.text[:300]}"
            )
            walked += 1
    return walked
