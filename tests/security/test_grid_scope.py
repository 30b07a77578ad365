"""The matrix walk's second dimension: grid-bound roles outside their grids (inspections).

Every inspections route that admits a grid worker or an inspector is called by each such role
with a token for another grid, about objects that exist in the other grid. Each must be refused
(403 outside-grids for writes, 404 for objects, so their existence does not leak) or, for lists,
answer without the other grid's items. A route that admits these roles and is missing from the
walk fails the test, so a new route cannot forget its grid check (tests/support/grid_scope.py;
credit's and notify's walks are beside this one).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from linli_inspections.app import DEFINITION, create_app
from linli_inspections.settings import InspectionsSettings
from linli_shared.migrations import upgrade
from linli_shared.permissions import RoutePermission, route_permissions
from services.inspections.tests.announced import announce, organisation
from tests.support.grid_scope import ADMIN, OURS, THEIRS, Probe, bearer, refused, walk

CreateDatabase = Callable[[str], Awaitable[str]]
# Routes grid-bound roles may call whose data belongs to no grid.
GRID_FREE = {
    ("GET", "/v1/checklists"),
    ("GET", "/v1/checklists/{name}"),
    ("GET", "/v1/checklists/{name}/versions"),
    # An upload is in no grid until an inspection shows it (reading it back is walked).
    ("POST", "/v1/evidence"),
}
# A valid 1×1 PNG: the other grid's inspection shows it as evidence.
PHOTO = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c49444154789c63f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)


def _inspection(compound: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "target": {"kind": "compound", "id": compound},
        "checklist": "sanitation",
        "inspected_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "findings": [{"item": "no-exposed-garbage", "passed": False}],
    }


@pytest.fixture
async def app_client(
    create_database: CreateDatabase,
) -> AsyncIterator[tuple[httpx.AsyncClient, list[RoutePermission]]]:
    url = await create_database("linli_inspections")
    await asyncio.to_thread(upgrade, DEFINITION.migrations_dir, url)
    app = create_app(InspectionsSettings(database_url=url))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as client,
    ):
        await announce(
            url,
            *(
                organisation(uuid.uuid4(), grid_id=grid, compound_ids=[f"cp-{grid}"])
                for grid in (THEIRS, OURS)
            ),
        )
        yield client, route_permissions(app)


async def _their_objects(client: httpx.AsyncClient) -> dict[str, str]:
    uploaded = await client.post(
        "/v1/evidence", content=PHOTO, headers={**ADMIN, "Content-Type": "image/png"}
    )
    photo = uploaded.json()
    shown = _inspection(f"cp-{THEIRS}")
    shown["findings"][0]["evidence"] = [
        {"photo_ref": photo["photo_ref"], "sha256": photo["sha256"]}
    ]
    recorded = await client.post("/v1/inspections", json=shown, headers=ADMIN)
    cases = await client.get("/v1/rectifications", headers=ADMIN)
    planned = await client.post(
        "/v1/schedules",
        json={"target": {"kind": "compound", "id": f"cp-{THEIRS}"}, "checklist": "sanitation"},
        headers=ADMIN,
    )
    point = await client.post(
        "/v1/pest-points",
        json={
            "id": "pp-theirs",
            "community_id": "xingfu",
            "grid_id": THEIRS,
            "name": "their point",
            "compound_id": f"cp-{THEIRS}",
        },
        headers=ADMIN,
    )
    for response in (uploaded, recorded, cases, planned, point):
        assert response.status_code in (200, 201), response.text
    return {
        "inspection": recorded.json()["id"],
        "case": cases.json()["items"][0]["id"],
        "schedule": planned.json()["id"],
        "photo": photo["sha256"],
    }


def _probes(theirs: dict[str, str]) -> list[Probe]:
    case, schedule = theirs["case"], theirs["schedule"]
    return [
        Probe("POST", "/v1/inspections", "/v1/inspections", _inspection(f"cp-{THEIRS}")),
        Probe(
            "POST",
            "/v1/inspections/batch",
            "/v1/inspections/batch",
            {"inspections": [_inspection(f"cp-{THEIRS}")]},
        ),
        Probe("GET", "/v1/inspections/{inspection_id}", f"/v1/inspections/{theirs['inspection']}"),
        Probe("GET", "/v1/evidence/{sha256}", f"/v1/evidence/{theirs['photo']}"),
        Probe("GET", "/v1/rectifications", "/v1/rectifications", lists=True),
        Probe("GET", "/v1/rectifications/{rectification_id}", f"/v1/rectifications/{case}"),
        Probe(
            "POST",
            "/v1/rectifications/{rectification_id}/ready",
            f"/v1/rectifications/{case}/ready",
        ),
        Probe(
            "POST",
            "/v1/rectifications/{rectification_id}/reinspection",
            f"/v1/rectifications/{case}/reinspection",
            {"scheduled_for": "2099-01-05T09:00:00+08:00"},
        ),
        Probe(
            "POST",
            "/v1/schedules",
            "/v1/schedules",
            {"target": {"kind": "compound", "id": f"cp-{THEIRS}"}, "checklist": "street_order"},
        ),
        Probe("GET", "/v1/schedules", "/v1/schedules", lists=True),
        Probe("DELETE", "/v1/schedules/{schedule_id}", f"/v1/schedules/{schedule}"),
        Probe("GET", "/v1/coverage", f"/v1/coverage?grid_id={THEIRS}"),
        Probe(
            "POST",
            "/v1/pest-points",
            "/v1/pest-points",
            {"id": "pp-new", "community_id": "xingfu", "grid_id": THEIRS, "name": "n"},
        ),
        Probe("GET", "/v1/pest-points", "/v1/pest-points", lists=True),
        Probe(
            "POST",
            "/v1/pest-points/{point_id}/readings",
            "/v1/pest-points/pp-theirs/readings",
            {"pest": "rat", "density": 5.0},
        ),
        Probe("GET", "/v1/pest-points/{point_id}/readings", "/v1/pest-points/pp-theirs/readings"),
    ]


def _refused(probe: Probe, response: httpx.Response) -> bool:
    if probe.path == "/v1/inspections/batch":
        return response.status_code == 200 and [
            r["status"] for r in response.json()["results"]
        ] == ["forbidden"]
    return refused(probe, response, lambda item: item.get("grid_id") == THEIRS)


async def test_grid_bound_roles_are_refused_outside_their_grids(
    app_client: tuple[httpx.AsyncClient, list[RoutePermission]],
) -> None:
    client, permissions = app_client
    probes = _probes(await _their_objects(client))
    walked = await walk(client, permissions, probes, grid_free=GRID_FREE, is_refused=_refused)
    assert walked >= 20
    # The other grid's objects are all still there, untouched, for those who may see them.
    [case_probe] = [p for p in probes if p.path == "/v1/rectifications/{rectification_id}"]
    case = (await client.get(case_probe.url, headers=ADMIN)).json()
    assert case["status"] == "open" and case["scheduled_reinspection"] is None
    schedules = (await client.get("/v1/schedules", headers=ADMIN)).json()["items"]
    assert [s["grid_id"] for s in schedules] == [THEIRS]
    # And the lists really do list the other grid's items to a role reaching it.
    for probe in (p for p in probes if p.lists):
        listed = await client.get(probe.url, headers=bearer("grid_worker", [THEIRS]))
        assert any(item.get("grid_id") == THEIRS for item in listed.json()["items"]), probe.url
