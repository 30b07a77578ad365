"""The matrix walk's third dimension: property managers, shops and residents with their own
party's tokens, about another organisation's and another household's objects (in the same grid),
over every route of the four services that admits a party role (tests/support/party_scope.py).

Each call is refused as if the object did not exist (404, read or changed) or, for a list,
answered without the other party's ids; the same reads about the caller's own objects succeed.
A route admitting a party role that is missing from the walk fails it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from conftest import MigratedDatabase
from linli.services import SERVICES
from linli_shared.clock import FixedClock
from linli_shared.contracts import InspectionFailed, OrganisationRegistered
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.contracts.inspections import FailedFindingV1
from linli_shared.contracts.registry import ContactV1
from linli_shared.db import Database
from linli_shared.permissions import route_permissions
from tests.support.api import api_client
from tests.support.grid_scope import ADMIN, COMMUNITY, consume, household_in
from tests.support.party_scope import Party, Probe, walk

GRID = "grid-ours"  # both parties' objects are in the one grid: only party reach tells them apart
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # daytime in the community: notices go out at once
PHOTO = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c49444154789c63f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)


@dataclass(frozen=True)
class Service:
    client: httpx.AsyncClient
    app: FastAPI
    database: Database


@pytest.fixture
async def service(
    request: pytest.FixtureRequest,
    migrated_database: MigratedDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Service]:
    name: str = request.param
    url = await migrated_database(SERVICES[name])
    monkeypatch.setenv(f"LINLI_{name.upper()}_DATABASE_URL", url)
    app = SERVICES[name].create_app()
    database = Database(url)
    try:
        async with api_client(app, name) as client:
            yield Service(client, app, database)
    finally:
        await database.dispose()


async def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def _organisation(organisation_id: uuid.UUID, compound: str) -> OrganisationRegistered:
    return OrganisationRegistered(
        organisation_id=organisation_id,
        kind="property_manager",
        name="物业",
        community_id=COMMUNITY,
        grid_id=GRID,
        compound_ids=[compound],
        contact=ContactV1(preferred_channels=["inbox"]),
        registered_at=NOW - timedelta(days=1),
    )


def _failed(subject: uuid.UUID, kind: SubjectKind) -> InspectionFailed:
    return InspectionFailed(
        inspection_id=uuid.uuid4(),
        subject_id=subject,
        subject_kind=kind,
        checklist="sanitation",
        inspected_at=NOW - timedelta(hours=1),
        severity=Severity.GENERAL,
        failed_findings=[FailedFindingV1(item="no-exposed-garbage", severity=Severity.GENERAL)],
        comply_by=NOW + timedelta(days=2),
        grid_id=GRID,
    )


# --- registry ------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["registry"], indirect=True)
async def test_parties_reach_only_their_own_in_the_registry(service: Service) -> None:
    client = service.client
    await _ok(
        await client.post(
            "/v1/communities", json={"id": COMMUNITY, "name": "幸福社区"}, headers=ADMIN
        )
    )
    await _ok(
        await client.post(
            "/v1/grids", json={"id": GRID, "community_id": COMMUNITY, "name": GRID}, headers=ADMIN
        )
    )
    made: dict[str, dict[str, Any]] = {}
    for party in ("ours", "theirs"):
        compound = {"id": f"cp-{party}", "community_id": COMMUNITY, "grid_id": GRID}
        await _ok(
            await client.post(
                "/v1/compounds", json={**compound, "name": party, "address": party}, headers=ADMIN
            )
        )
        made[f"{party}-org"] = await _ok(
            await client.post(
                "/v1/organisations",
                json={
                    "kind": "property_manager",
                    "name": f"物业 {party}",
                    "community_id": COMMUNITY,
                    "grid_id": GRID,
                    "compound_ids": [f"cp-{party}"],
                    "contact": {"email": f"pm-{party}@example.cn"},
                },
                headers=ADMIN,
            )
        )
        made[party] = await _ok(
            await client.post(
                "/v1/households",
                json={
                    "community_id": COMMUNITY,
                    "grid_id": GRID,
                    "address": f"{party} 路 8 号",
                    "members": [{"name": f"户主 {party}", "relation": "head"}],
                    "contact_email": f"hh-{party}@example.cn",
                },
                headers=ADMIN,
            )
        )
    ours = Party(
        uuid.UUID(made["ours-org"]["id"]), uuid.UUID(made["ours"]["members"][0]["resident_id"])
    )
    household, organisation = made["theirs"], made["theirs-org"]
    resident = household["members"][0]["resident_id"]
    probes = [
        Probe(
            "GET",
            "/v1/households",
            "/v1/households",
            lists=True,
            own="/v1/households",
            own_role="resident",
        ),
        Probe(
            "GET",
            "/v1/households",
            f"/v1/households?grid_id={GRID}&name=theirs",
            lists=True,
        ),
        Probe(
            "GET",
            "/v1/households/{household_id}",
            f"/v1/households/{household['id']}",
            own=f"/v1/households/{made['ours']['id']}",
            own_role="resident",
        ),
        Probe(
            "PUT",
            "/v1/households/{household_id}/consent",
            f"/v1/households/{household['id']}/consent",
            {"version": household["version"], "integrity_scoring": False, "notice_channels": []},
        ),
        Probe(
            "GET",
            "/v1/residents/{resident_id}/data-copy",
            f"/v1/residents/{resident}/data-copy",
            own=f"/v1/residents/{ours.resident_id}/data-copy",
            own_role="resident",
        ),
        Probe(
            "GET",
            "/v1/organisations",
            "/v1/organisations",
            lists=True,
            own="/v1/organisations",
            own_role="property_manager",
        ),
        Probe(
            "GET",
            "/v1/organisations/{organisation_id}",
            f"/v1/organisations/{organisation['id']}",
            own=f"/v1/organisations/{ours.organisation_id}",
            own_role="property_manager",
        ),
        Probe(
            "GET",
            "/v1/compounds",
            f"/v1/compounds?grid_id={GRID}",
            lists=True,
            own="/v1/compounds",
            own_role="property_manager",
        ),
        Probe(
            "GET",
            "/v1/compounds/{compound_id}",
            "/v1/compounds/cp-theirs",
            own="/v1/compounds/cp-ours",
            own_role="property_manager",
        ),
    ]
    theirs = [household["id"], organisation["id"], "cp-theirs", resident]
    walked = await walk(client, route_permissions(service.app), probes, ours=ours, theirs=theirs)
    assert walked >= 20
    unchanged = await client.get(f"/v1/households/{household['id']}", headers=ADMIN)
    assert unchanged.json()["version"] == household["version"], "their consent was not changed"


# --- inspections ---------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["inspections"], indirect=True)
async def test_parties_reach_only_their_own_in_inspections(service: Service) -> None:
    from services.inspections.tests.announced import announce, organisation

    client = service.client
    ours = Party(uuid.uuid4(), uuid.uuid4())
    their_org, their_resident = uuid.uuid4(), uuid.uuid4()
    our_home, their_home = (
        household_in(GRID, resident_id=ours.resident_id),
        household_in(GRID, resident_id=their_resident),
    )
    await announce(
        service.database,
        organisation(
            ours.organisation_id, grid_id=GRID, community_id=COMMUNITY, compound_ids=["cp-ours"]
        ),
        organisation(their_org, grid_id=GRID, community_id=COMMUNITY, compound_ids=["cp-theirs"]),
        our_home,
        their_home,
    )
    photo = await _ok(
        await client.post(
            "/v1/evidence", content=PHOTO, headers={**ADMIN, "Content-Type": "image/png"}
        )
    )
    recorded: dict[str, dict[str, Any]] = {}
    targets: list[tuple[str, dict[str, Any]]] = [
        ("our-org", {"target": {"kind": "compound", "id": "cp-ours"}}),
        ("their-org", {"target": {"kind": "compound", "id": "cp-theirs"}}),
        ("our-home", {"subject_id": str(our_home.household_id)}),
        ("their-home", {"subject_id": str(their_home.household_id)}),
    ]
    for name, target in targets:
        finding: dict[str, Any] = {"item": "no-exposed-garbage", "passed": False}
        if name.startswith("their"):
            finding["evidence"] = [{"photo_ref": photo["photo_ref"], "sha256": photo["sha256"]}]
        recorded[name] = await _ok(
            await client.post(
                "/v1/inspections",
                json={**target, "checklist": "sanitation", "findings": [finding]},
                headers=ADMIN,
            )
        )
    cases = {
        name: (
            await client.get(
                "/v1/rectifications",
                params={"subject_id": inspection["subject_id"]},
                headers=ADMIN,
            )
        ).json()["items"][0]["id"]
        for name, inspection in recorded.items()
    }
    probes = [
        Probe(
            "GET",
            "/v1/inspections/{inspection_id}",
            f"/v1/inspections/{recorded[name]['id']}",
            own=f"/v1/inspections/{recorded[own]['id']}",
            own_role=role,
        )
        for name, own, role in [
            ("their-org", "our-org", "property_manager"),
            ("their-home", "our-home", "resident"),
        ]
    ]
    probes += [
        Probe("GET", "/v1/evidence/{sha256}", f"/v1/evidence/{photo['sha256']}"),
        Probe(
            "GET",
            "/v1/rectifications",
            "/v1/rectifications",
            lists=True,
            own="/v1/rectifications",
            own_role="shop",
        ),
        Probe(
            "GET", "/v1/rectifications", f"/v1/rectifications?subject_id={their_org}", lists=True
        ),
        Probe(
            "GET",
            "/v1/rectifications",
            f"/v1/rectifications?subject_id={their_home.household_id}&grid_id={GRID}",
            lists=True,
        ),
        Probe(
            "GET",
            "/v1/rectifications/{rectification_id}",
            f"/v1/rectifications/{cases['their-org']}",
            own=f"/v1/rectifications/{cases['our-org']}",
            own_role="property_manager",
        ),
        Probe(
            "GET",
            "/v1/rectifications/{rectification_id}",
            f"/v1/rectifications/{cases['their-home']}",
            own=f"/v1/rectifications/{cases['our-home']}",
            own_role="resident",
        ),
        Probe(
            "POST",
            "/v1/rectifications/{rectification_id}/ready",
            f"/v1/rectifications/{cases['their-org']}/ready",
            {"note": "已整改"},
        ),
        Probe(
            "GET",
            "/v1/residents/{resident_id}/data-copy",
            f"/v1/residents/{their_resident}/data-copy",
            own=f"/v1/residents/{ours.resident_id}/data-copy",
            own_role="resident",
        ),
    ]
    theirs = [
        str(their_org),
        str(their_home.household_id),
        *(recorded[n]["id"] for n in ("their-org", "their-home")),
        cases["their-org"],
        cases["their-home"],
    ]
    walked = await walk(
        client,
        route_permissions(service.app),
        probes,
        ours=ours,
        theirs=theirs,
        # An upload belongs to no one until an inspection or a case shows it (reading is walked).
        party_free={("POST", "/v1/evidence")},
    )
    assert walked >= 20
    case = (await client.get(f"/v1/rectifications/{cases['their-org']}", headers=ADMIN)).json()
    assert case["status"] == "open", "their case was not reported ready"


# --- credit --------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["credit"], indirect=True)
async def test_parties_reach_only_their_own_in_credit(service: Service) -> None:
    from linli_credit.consumers import subscriptions

    client, consumer = service.client, subscriptions(service.app.state.use_cases)
    ours = Party(uuid.uuid4(), uuid.uuid4())
    their_org, their_resident = uuid.uuid4(), uuid.uuid4()
    our_home = household_in(GRID, resident_id=ours.resident_id, at=NOW - timedelta(days=1))
    their_home = household_in(GRID, resident_id=their_resident, at=NOW - timedelta(days=1))
    for event in (
        our_home,
        their_home,
        _organisation(ours.organisation_id, "cp-ours"),
        _organisation(their_org, "cp-theirs"),
    ):
        await consume(consumer, service.database, event)
    entries: dict[uuid.UUID, str] = {}
    appeals: dict[uuid.UUID, str] = {}
    for subject, kind in [
        (our_home.household_id, SubjectKind.HOUSEHOLD),
        (their_home.household_id, SubjectKind.HOUSEHOLD),
        (ours.organisation_id, SubjectKind.ORGANISATION),
        (their_org, SubjectKind.ORGANISATION),
    ]:
        await consume(consumer, service.database, _failed(subject, kind))
        [entry] = (await client.get(f"/v1/subjects/{subject}/entries", headers=ADMIN)).json()[
            "items"
        ]
        entries[subject] = entry["id"]
        appeal = await client.post(
            "/v1/appeals", json={"entry_id": entry["id"], "grounds": "不是我们的"}, headers=ADMIN
        )
        appeals[subject] = (await _ok(appeal))["id"]
    probes: list[Probe] = []
    for what in ("score", "entries", "explanation"):
        probes += [
            Probe(
                "GET",
                f"/v1/subjects/{{subject_id}}/{what}",
                f"/v1/subjects/{theirs}/{what}",
                own=f"/v1/subjects/{own}/{what}",
                own_role=role,
            )
            for theirs, own, role in [
                (their_home.household_id, our_home.household_id, "resident"),
                (their_org, ours.organisation_id, "shop"),
                (their_resident, ours.resident_id, "resident"),
            ]
        ]
    probes += [
        Probe(
            "GET",
            "/v1/subjects/{subject_id}/green-channel",
            f"/v1/subjects/{their_home.household_id}/green-channel",
            own=f"/v1/subjects/{our_home.household_id}/green-channel",
            own_role="resident",
        ),
        Probe(
            "POST",
            "/v1/appeals",
            "/v1/appeals",
            {"entry_id": entries[their_home.household_id], "grounds": "x"},
        ),
        Probe(
            "POST", "/v1/appeals", "/v1/appeals", {"entry_id": entries[their_org], "grounds": "x"}
        ),
        Probe(
            "GET", "/v1/appeals", "/v1/appeals", lists=True, own="/v1/appeals", own_role="resident"
        ),
        Probe("GET", "/v1/appeals", f"/v1/appeals?subject_id={their_org}", lists=True),
        Probe(
            "GET",
            "/v1/appeals/{appeal_id}",
            f"/v1/appeals/{appeals[their_home.household_id]}",
            own=f"/v1/appeals/{appeals[our_home.household_id]}",
            own_role="resident",
        ),
        Probe(
            "GET",
            "/v1/appeals/{appeal_id}",
            f"/v1/appeals/{appeals[their_org]}",
            own=f"/v1/appeals/{appeals[ours.organisation_id]}",
            own_role="property_manager",
        ),
        Probe(
            "GET",
            "/v1/residents/{resident_id}/data-copy",
            f"/v1/residents/{their_resident}/data-copy",
            own=f"/v1/residents/{ours.resident_id}/data-copy",
            own_role="resident",
        ),
    ]
    theirs = [
        str(their_home.household_id),
        str(their_org),
        str(their_resident),
        entries[their_home.household_id],
        entries[their_org],
        appeals[their_home.household_id],
        appeals[their_org],
    ]
    walked = await walk(client, route_permissions(service.app), probes, ours=ours, theirs=theirs)
    assert walked >= 40
    listed = (await client.get("/v1/appeals", headers=ADMIN)).json()
    assert listed["total"] == 4, "no appeal was filed on their entries"


# --- notify --------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["notify"], indirect=True)
async def test_parties_reach_only_their_own_in_notify(service: Service) -> None:
    from linli_notify.app import build_use_cases
    from linli_notify.consumers import subscriptions
    from linli_notify.settings import NotifySettings

    client = service.client
    use_cases = build_use_cases(
        service.database, NotifySettings(database_url=service.database.url), FixedClock(NOW)
    )
    consumer = subscriptions(use_cases)
    ours = Party(uuid.uuid4(), uuid.uuid4())
    their_org, their_resident = uuid.uuid4(), uuid.uuid4()
    our_home = household_in(GRID, resident_id=ours.resident_id, at=NOW)
    their_home = household_in(GRID, resident_id=their_resident, at=NOW)
    for event in (
        our_home,
        their_home,
        _organisation(ours.organisation_id, "cp-ours"),
        _organisation(their_org, "cp-theirs"),
    ):
        await consume(consumer, service.database, event)
    recipients = {
        "our-home": (our_home.household_id, SubjectKind.HOUSEHOLD),
        "their-home": (their_home.household_id, SubjectKind.HOUSEHOLD),
        "our-org": (ours.organisation_id, SubjectKind.ORGANISATION),
        "their-org": (their_org, SubjectKind.ORGANISATION),
    }
    for subject, kind in recipients.values():
        await consume(consumer, service.database, _failed(subject, kind))
    while await use_cases.dispatcher.deliver_next():
        pass
    notices = {}
    for name, (subject, _) in recipients.items():
        listed = await client.get(
            "/v1/notices", params={"recipient_id": str(subject)}, headers=ADMIN
        )
        [notice] = listed.json()["items"]
        assert notice["status"] == "delivered", notice
        notices[name] = notice["id"]
    probes: list[Probe] = []
    for theirs, own, role in [
        ("their-home", "our-home", "resident"),
        ("their-org", "our-org", "property_manager"),
    ]:
        recipient, own_recipient = recipients[theirs][0], recipients[own][0]
        probes += [
            Probe(
                "GET",
                "/v1/notices",
                f"/v1/notices?recipient_id={recipient}",
                own=f"/v1/notices?recipient_id={own_recipient}",
                own_role=role,
            ),
            Probe(
                "GET",
                "/v1/notices/{notice_id}",
                f"/v1/notices/{notices[theirs]}",
                own=f"/v1/notices/{notices[own]}",
                own_role=role,
            ),
            Probe(
                "PUT",
                "/v1/notices/{notice_id}/read-state",
                f"/v1/notices/{notices[theirs]}/read-state",
                {"read": True},
            ),
            Probe(
                "GET",
                "/v1/recipients/{recipient_id}/inbox",
                f"/v1/recipients/{recipient}/inbox",
                own=f"/v1/recipients/{own_recipient}/inbox",
                own_role=role,
            ),
            Probe(
                "GET",
                "/v1/recipients/{recipient_id}/preferences",
                f"/v1/recipients/{recipient}/preferences",
                own=f"/v1/recipients/{own_recipient}/preferences",
                own_role=role,
            ),
            Probe(
                "PUT",
                "/v1/recipients/{recipient_id}/preferences",
                f"/v1/recipients/{recipient}/preferences",
                {"digest": True},
            ),
        ]
    probes.append(
        Probe(
            "GET",
            "/v1/residents/{resident_id}/data-copy",
            f"/v1/residents/{their_resident}/data-copy",
            own=f"/v1/residents/{ours.resident_id}/data-copy",
            own_role="resident",
        )
    )
    walked = await walk(
        client, route_permissions(service.app), probes, ours=ours, theirs=[str(their_resident)]
    )
    assert walked >= 40
    inbox = (
        await client.get(f"/v1/recipients/{their_home.household_id}/inbox", headers=ADMIN)
    ).json()
    assert inbox["items"][0]["read_at"] is None, "their notice was not marked read"
    preferences = await client.get(f"/v1/recipients/{their_org}/preferences", headers=ADMIN)
    assert preferences.json()["digest"] is False, "their preferences were not changed"
