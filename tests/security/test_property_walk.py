"""A property walk over every route of the four services: random headers, ids, query parameters
and bodies, with tokens of every role and role pair, in-process on PostgreSQL, each service
seeded with people and objects in two grids. Whatever is sent:

- no answer is a server error;
- a call whose grant comes from grid-bound roles only (or that is refused) never carries
  personal data of the other grid (names, addresses, e-mails, inspectors' notes, appeal
  grounds);
- every answer that revealed unmasked personal data (`?reveal=true`) left an audit entry.

The tokens all name our grid only, and our organisation and our resident (for the party roles:
property managers, shops, residents); `tests/security/test_grid_scope*.py` and
`test_party_scope.py` walk the same rule route by route with concrete calls, this walk with
what hypothesis makes up. A second walk sends odd
credentials (garbage, and dev-signed tokens whose claims have the wrong types): answered with a
4xx, never a server error.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import MigratedDatabase
from linli.services import SERVICES
from linli_inspections.app import create_app as create_inspections_app
from linli_shared.audit import PERSONAL_DATA_READ
from linli_shared.auth import BOUND_ROLES, ROLES
from linli_shared.clock import FixedClock
from linli_shared.contracts import HouseholdRegistered, InspectionFailed
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.contracts.inspections import FailedFindingV1
from linli_shared.contracts.registry import ConsentV1, ContactV1, MemberV1
from linli_shared.db import Database
from linli_shared.permissions import RoutePermission, route_permissions
from linli_shared.settings import PlatformSettings
from tests.support.api import api_client
from tests.support.grid_scope import ADMIN, COMMUNITY, OURS, THEIRS, bearer_of, consume
from tests.support.party_scope import Party
from tests.support.subject_keys import KeysForTests

EXAMPLES = 200  # per service: about fifteen seconds each on a busy two-core machine
HEADER_NAMES = [
    "X-Correlation-ID",
    "Accept",
    "Accept-Language",
    "Content-Type",
    "X-Forwarded-For",
    "If-None-Match",
    "Range",
    "Idempotency-Key",
    "traceparent",
    "X-Request-ID",
]
BODY_KEYS = [
    "id",
    "grid_id",
    "community_id",
    "version",
    "name",
    "address",
    "members",
    "email",
    "url",
    "entry_id",
    "grounds",
    "target",
    "read",
    "notice_types",
]
ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
any_text = st.text(max_size=40)
audit_log = sa.table("audit_log", sa.column("action"))


def personal(grid: str) -> dict[str, str]:
    """What of a grid's people and findings is personal: each appears only in that grid's data."""
    return {
        "name": f"户主-{grid}",
        "address": f"{grid} 路 8 号",
        "email": f"hh-{grid}@example.cn",
        "note": f"门口堆放杂物-{grid}",
        "grounds": f"不是我家的-{grid}",
    }


@dataclass
class Seeded:
    client: httpx.AsyncClient
    app: FastAPI
    database: Database
    known: list[str]  # ids of both grids' objects, for path and query parameters
    ours: Party  # our grid's organisation and resident: what the walk's party tokens name


Seeder = Callable[[httpx.AsyncClient, FastAPI, Database], Awaitable[tuple[list[str], Party]]]


def registered(grid: str) -> HouseholdRegistered:
    data = personal(grid)
    return HouseholdRegistered(
        household_id=uuid.uuid4(),
        community_id=COMMUNITY,
        grid_id=grid,
        address=data["address"],
        members=[MemberV1(name=data["name"], relation="head", resident_id=uuid.uuid4())],
        contact_email=data["email"],
        contact=ContactV1(preferred_channels=["inbox"]),
        consent=ConsentV1(integrity_scoring=True, notice_channels=["inbox"]),
        registered_at=datetime.now(UTC) - timedelta(days=1),
    )


def failed(household: uuid.UUID, grid: str) -> InspectionFailed:
    at = datetime.now(UTC) - timedelta(hours=2)
    return InspectionFailed(
        inspection_id=uuid.uuid4(),
        subject_id=household,
        subject_kind=SubjectKind.HOUSEHOLD,
        checklist="sanitation",
        inspected_at=at,
        severity=Severity.GENERAL,
        failed_findings=[FailedFindingV1(item="no-exposed-garbage", severity=Severity.GENERAL)],
        comply_by=at + timedelta(days=2),
        grid_id=grid,
    )


async def _created(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=ADMIN)
    assert response.status_code in (200, 201), response.text
    created: dict[str, Any] = response.json()
    return created


async def seed_registry(
    client: httpx.AsyncClient, app: FastAPI, database: Database
) -> tuple[list[str], Party]:
    await _created(client, "/v1/communities", {"id": COMMUNITY, "name": "幸福社区"})
    known = [COMMUNITY]
    for grid in (THEIRS, OURS):
        data = personal(grid)
        await _created(client, "/v1/grids", {"id": grid, "community_id": COMMUNITY, "name": grid})
        compound = {"id": f"cp-{grid}", "community_id": COMMUNITY, "grid_id": grid}
        await _created(client, "/v1/compounds", {**compound, "name": grid, "address": grid})
        organisation = await _created(
            client,
            "/v1/organisations",
            {
                "kind": "property_manager",
                "name": f"物业 {grid}",
                "community_id": COMMUNITY,
                "grid_id": grid,
                "compound_ids": [f"cp-{grid}"],
                "contact": {"email": data["email"]},
            },
        )
        household = await _created(
            client,
            "/v1/households",
            {
                "community_id": COMMUNITY,
                "grid_id": grid,
                "address": data["address"],
                "members": [{"name": data["name"], "relation": "head"}],
                "contact_email": data["email"],
            },
        )
        resident = household["members"][0]["resident_id"]
        known += [grid, f"cp-{grid}", organisation["id"], household["id"], resident]
    ours = Party(uuid.UUID(organisation["id"]), uuid.UUID(resident))  # OURS: seeded last
    return known, ours


async def seed_inspections(
    client: httpx.AsyncClient, app: FastAPI, database: Database
) -> tuple[list[str], Party]:
    from linli_inspections.consumers import subscriptions
    from services.inspections.tests.announced import organisation

    consumer = subscriptions(app.state.use_cases)
    known: list[str] = []
    for grid in (THEIRS, OURS):
        manager = organisation(
            uuid.uuid4(), community_id=COMMUNITY, grid_id=grid, compound_ids=[f"cp-{grid}"]
        )
        await consume(consumer, database, manager)
        household = registered(grid)
        await consume(consumer, database, household)
        home = await _created(
            client,
            "/v1/inspections",
            {
                "id": str(uuid.uuid4()),
                "subject_id": str(household.household_id),
                "checklist": "sanitation",
                "findings": [
                    {"item": "stairwells-clear", "passed": False, "note": personal(grid)["note"]}
                ],
            },
        )
        resident = household.members[0].resident_id
        assert resident is not None
        ours = Party(manager.organisation_id, resident)
        known += [str(manager.organisation_id), str(household.household_id), str(resident)]
        known.append(home["id"])
        inspection = await _created(
            client,
            "/v1/inspections",
            {
                "id": str(uuid.uuid4()),
                "target": {"kind": "compound", "id": f"cp-{grid}"},
                "checklist": "sanitation",
                "inspected_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
                "findings": [
                    {"item": "no-exposed-garbage", "passed": False, "note": personal(grid)["note"]}
                ],
            },
        )
        known += [grid, f"cp-{grid}", inspection["id"]]
    cases = await client.get("/v1/rectifications", headers=ADMIN)
    return known + [case["id"] for case in cases.json()["items"]], ours


async def seed_credit(
    client: httpx.AsyncClient, app: FastAPI, database: Database
) -> tuple[list[str], Party]:
    from linli_credit.consumers import subscriptions

    consumer = subscriptions(app.state.use_cases)
    known: list[str] = []
    for grid in (THEIRS, OURS):
        household = registered(grid)
        await consume(consumer, database, household)
        await consume(consumer, database, failed(household.household_id, grid))
        entries = await client.get(f"/v1/subjects/{household.household_id}/entries", headers=ADMIN)
        [entry] = entries.json()["items"]
        appeal = await _created(
            client, "/v1/appeals", {"entry_id": entry["id"], "grounds": personal(grid)["grounds"]}
        )
        resident = household.members[0].resident_id
        assert resident is not None
        ours = Party(uuid.uuid4(), resident)
        known += [grid, str(household.household_id), str(resident), entry["id"], appeal["id"]]
    return known, ours


async def seed_notify(
    client: httpx.AsyncClient, app: FastAPI, database: Database
) -> tuple[list[str], Party]:
    from linli_notify.app import build_use_cases
    from linli_notify.consumers import subscriptions
    from linli_notify.settings import NotifySettings

    # Daytime in the community (no quiet hours), so the notices are delivered at once.
    daytime = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    use_cases = build_use_cases(
        database, NotifySettings(database_url=database.url), FixedClock(daytime)
    )
    consumer = subscriptions(use_cases)
    known: list[str] = []
    for grid in (THEIRS, OURS):
        household = registered(grid)
        await consume(consumer, database, household)
        await consume(consumer, database, failed(household.household_id, grid))
        resident = household.members[0].resident_id
        assert resident is not None
        ours = Party(uuid.uuid4(), resident)
        known += [grid, str(household.household_id), str(resident)]
    while await use_cases.dispatcher.deliver_next():
        pass
    for recipient in known[1::3]:
        notices = await client.get("/v1/notices", params={"recipient_id": recipient}, headers=ADMIN)
        known += [notice["id"] for notice in notices.json()["items"]]
    return known, ours


SEEDERS: dict[str, Seeder] = {
    "registry": seed_registry,
    "inspections": seed_inspections,
    "credit": seed_credit,
    "notify": seed_notify,
}


@pytest.fixture(params=list(SEEDERS))
async def seeded(
    request: pytest.FixtureRequest,
    migrated_database: MigratedDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Seeded]:
    name = request.param
    definition = SERVICES[name]
    url = await migrated_database(definition)
    monkeypatch.setenv(f"LINLI_{name.upper()}_DATABASE_URL", url)
    if name == "inspections":  # its notes are sealed under the registry's subject keys
        app = create_inspections_app(subject_keys=KeysForTests())
    else:
        app = definition.create_app()
    database = Database(url)
    try:
        async with api_client(app, name) as client:
            known, ours = await SEEDERS[name](client, app, database)
            yield Seeded(client, app, database, known, ours)
    finally:
        await database.dispose()


@dataclass(frozen=True)
class Route:
    permission: RoutePermission
    query: tuple[str, ...]


def routes(app: FastAPI) -> list[Route]:
    queries: dict[tuple[str, str], tuple[str, ...]] = {}
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        if isinstance(dependant, Dependant) and context.path:
            names = tuple(dict.fromkeys(_query_names(dependant)))
            for method in context.methods or ():
                queries[(method, context.path)] = names
    return [Route(p, queries[(p.method, p.path)]) for p in route_permissions(app)]


def _query_names(dependant: Dependant) -> list[str]:
    names = [p.alias for p in dependant.query_params]
    for below in dependant.dependencies:
        names += _query_names(below)
    return names


def bounded(permission: RoutePermission, roles: frozenset[str]) -> bool:
    """Whether this token's grant of the route (if any) is bound only: to our grid, our
    organisation, our resident and their household."""
    granting = {r for r in roles if permission.allows(r)}
    return not granting - BOUND_ROLES


# Every role and role pair; half the draws pair a bound role (grid or party) with another one,
# where a second role must not widen the first one's reach.
ROLE_SETS = sorted(
    {frozenset({a, b}) for a in ROLES for b in ROLES}, key=lambda s: (len(s), sorted(s))
)
BOUND_PAIRS = [s for s in ROLE_SETS if len(s) == 2 and s & BOUND_ROLES]
role_sets = st.sampled_from(ROLE_SETS) | st.sampled_from(BOUND_PAIRS)


def calls(known: list[str]) -> st.SearchStrategy[str]:
    ids = st.sampled_from(known)
    return st.one_of(
        ids,
        ids,
        ids,
        st.just("true"),  # e.g. ?reveal=true
        st.uuids().map(str),
        st.sampled_from(["true", "false", "1", "0", "-1", "99999999999999999999", ""]),
        any_text,
    )


async def reveals_recorded(database: Database) -> int:
    async with database.connect() as connection:
        count = await connection.scalar(
            sa.select(sa.func.count())
            .select_from(audit_log)
            .where(audit_log.c.action == PERSONAL_DATA_READ)
        )
    return int(count or 0)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same walk on every run: a failure here is reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_no_route_fails_or_leaks_another_grid_whatever_it_is_sent(
    seeded: Seeded, data: st.DataObject
) -> None:
    every = routes(seeded.app)
    reads = [r for r in every if r.permission.method == "GET"]  # where data shows: drawn twice
    route = data.draw(st.sampled_from(every) | st.sampled_from(reads), label="route")
    permission = route.permission
    values = calls(seeded.known)
    roles = data.draw(role_sets, label="roles")
    path = permission.path
    for name in [p.strip("{}") for p in path.split("/") if p.startswith("{")]:
        path = path.replace(f"{{{name}}}", quote(data.draw(values, label=name), safe="") or "x")
    query = data.draw(
        st.just({}) | st.dictionaries(st.sampled_from(route.query), values, max_size=3)
        if route.query
        else st.just({}),
        label="query",
    )
    headers = data.draw(st.dictionaries(st.sampled_from(HEADER_NAMES), ascii_text, max_size=3))
    body = None
    if permission.method in ("POST", "PUT", "PATCH"):
        body = data.draw(
            st.none() | st.dictionaries(st.sampled_from(BODY_KEYS), values | st.integers()),
            label="body",
        )
    ours = seeded.ours
    headers.update(
        bearer_of(roles, [OURS], organisation_id=ours.organisation_id, resident_id=ours.resident_id)
    )
    revealing = str(query.get("reveal", "")).lower() in ("true", "1", "yes", "on", "t", "y")
    before = await reveals_recorded(seeded.database) if revealing else 0

    response = await seeded.client.request(
        permission.method, path, params=query, json=body, headers=headers
    )

    call = f"{'+'.join(sorted(roles))}: {permission.method} {path} {query} {body}"
    assert response.status_code < 500, f"{call} -> {response.status_code} {response.text[:300]}"
    if bounded(permission, roles):
        leaked = [v for v in personal(THEIRS).values() if v in response.text]
        assert not leaked, f"{call} -> {response.status_code} shows {leaked}"
    if revealing and response.status_code == 200:
        assert await reveals_recorded(seeded.database) == before + 1, f"{call}: not audited"


async def test_the_walk_reaches_the_other_grids_data_where_a_grant_allows(
    seeded: Seeded,
) -> None:
    """The markers the walk looks for are really served to a token whose grant is unbound, so an
    absent marker means refused, not merely never there."""
    staff = bearer_of(["community_staff", "credit_officer"], [OURS])
    shown = ""
    for route in routes(seeded.app):
        if route.permission.method != "GET" or "{" in route.permission.path:
            continue
        response = await seeded.client.get(route.permission.path, headers=staff)
        shown += response.text
    for known in seeded.known:
        for route in routes(seeded.app):
            permission = route.permission
            if permission.method == "GET" and permission.path.count("{") == 1:
                url = permission.path.split("{")[0] + known + permission.path.split("}")[1]
                shown += (await seeded.client.get(url, headers=staff)).text
    assert any(value in shown for value in personal(THEIRS).values())


claim_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12) | st.sampled_from(ROLES),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=2)
    ),
    max_leaves=5,
)


def odd_token(claims: dict[str, Any]) -> str:
    """A token signed with the dev key (so it is verified) whose claims are what `claims` say."""
    platform = PlatformSettings()
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "sub": "odd",
        "iss": platform.auth_issuer,
        "aud": platform.auth_audience,
        "iat": now,
        "exp": now + timedelta(hours=1),
    }
    secret = platform.auth_dev_secret.get_secret_value()
    return jwt.encode({**base, **claims}, secret, algorithm="HS256")


credentials = st.one_of(
    ascii_text,
    ascii_text.map(lambda junk: f"Bearer {junk}"),
    st.fixed_dictionaries(
        {},
        optional={
            "roles": claim_values,
            "grids": claim_values,
            "sub": claim_values,
            "organisation": claim_values | st.uuids().map(str),
            "resident": claim_values | st.uuids().map(str),
        },
    ).map(lambda claims: f"Bearer {odd_token(claims)}"),
)


@settings(
    max_examples=EXAMPLES // 2,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_no_route_fails_whatever_credentials_it_is_sent(
    seeded: Seeded, data: st.DataObject
) -> None:
    permission = data.draw(st.sampled_from(routes(seeded.app)), label="route").permission
    path = permission.path
    for name in [p.strip("{}") for p in path.split("/") if p.startswith("{")]:
        path = path.replace(f"{{{name}}}", quote(data.draw(calls(seeded.known)), safe="") or "x")
    authorization = data.draw(credentials, label="authorization")
    response = await seeded.client.request(
        permission.method, path, headers={"Authorization": authorization}
    )
    assert response.status_code < 500, (
        f"{permission.method} {path} with {authorization!r} -> {response.status_code} "
        f"{response.text[:300]}"
    )
