"""The registry's records (on SQLite and PostgreSQL): places, organisations, personal data,
duplicates, versioned history and the events each change publishes; and the HTTP answers
(on PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from linli_registry.adapters import tables
from linli_registry.app import build_use_cases
from linli_registry.domain.household import HEAD, Contact, Member
from linli_registry.domain.organisation import OrganisationKind
from linli_registry.domain.records import HouseholdFilter
from linli_registry.service import UseCases
from linli_registry.service.recording import PossibleDuplicate
from linli_registry.settings import RegistrySettings
from linli_shared.clock import FixedClock
from linli_shared.contracts import CATALOGUE
from linli_shared.contracts.base import EventData
from linli_shared.contracts.registry import (
    BuildingCreated,
    CommunityChanged,
    CommunityCreated,
    CompoundChanged,
    CompoundCreated,
    GridChanged,
    GridCreated,
    HouseholdMembersChanged,
    HouseholdRegistered,
)
from linli_shared.crypto import Sealer
from linli_shared.db import Database
from linli_shared.errors import Conflict
from linli_shared.messaging.envelope import Envelope
from linli_shared.pagination import PageRequest
from linli_shared.rules import RuleViolation
from tests.support.api import PROBLEM
from tests.support.grid_scope import bearer

ID_A = "11010519491231002X"
ID_B = "110105198001010016"


PLACE_EVENTS = ("community", "grid", "compound", "building")


async def _events(database: Database) -> list[EventData]:
    """The household and organisation events (place events: `_place_events`)."""
    return [e for e in await _all_events(database) if _about(e) not in PLACE_EVENTS]


async def _place_events(database: Database) -> list[EventData]:
    return [e for e in await _all_events(database) if _about(e) in PLACE_EVENTS]


def _about(event: EventData) -> str:
    return event.event_type.split(".")[2]


async def _all_events(database: Database) -> list[EventData]:
    async with database.connect() as connection:
        rows = (await connection.execute(select(tables.outbox).order_by(tables.outbox.c.seq))).all()
    events = []
    for row in rows:
        event = Envelope.from_json(row.payload).parse(CATALOGUE)
        assert row.partition_key == event.partition_key()
        assert not event.partner_readable  # the registry topic stays inside the platform
        assert ID_A not in row.payload.decode() and ID_B not in row.payload.decode()
        events.append(event)
    return events


async def _places(registry: UseCases) -> None:
    await registry.territory.create_community(
        id="xingfu", name="幸福社区", time_zone="Asia/Shanghai"
    )
    await registry.territory.create_grid(
        id="g-01", community_id="xingfu", name="一网格", worker_id="w-li", worker_name="李"
    )
    await registry.territory.create_compound(
        id="cp-01", community_id="xingfu", grid_id="g-01", name="幸福花园", address="幸福路 1 号"
    )
    await registry.territory.create_building(id="cp-01-b3", compound_id="cp-01", name="3 栋")


async def _register(registry: UseCases, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "community_id": "xingfu",
        "grid_id": "g-01",
        "address": "幸福花园 3 栋 402",
        "members": [Member("张伟", HEAD, id_number=ID_A, phone="13812345678")],
        "contact_email": "zhang@example.cn",
        "compound_id": "cp-01",
        "building_id": "cp-01-b3",
        "contact_phone": "13812345678",
        "registered_by": "staff-1",
    }
    arguments.update(overrides)
    return await registry.registration.register_household(**arguments)


async def test_personal_data_is_encrypted_at_rest_and_events_carry_state_not_id_numbers(
    registry: UseCases, database: Database
) -> None:
    await _places(registry)
    household = await _register(registry)

    async with database.connect() as connection:
        member = (await connection.execute(select(tables.members))).one()
        row = (await connection.execute(select(tables.households))).one()
    assert member.id_number_enc and ID_A not in member.id_number_enc
    assert member.phone_enc and "13812345678" not in member.phone_enc
    assert member.id_tail == "002X"
    assert row.contact_phone_enc and "13812345678" not in row.contact_phone_enc
    assert (await registry.disclosure.get_household(household.id)).members[0].id_number == ID_A

    [event] = await _events(database)
    assert event.model_dump()["compound_id"] == "cp-01"
    contact = event.model_dump()["contact"]
    assert (contact["phone"], contact["email"]) == (None, None)  # sealed for notify instead
    key = (await registry.subject_keys.key_of(household.id)).key
    assert key is not None
    opened = Sealer([key]).open(str(household.id), contact["subject_sealed"])
    assert opened["phone"] == "13812345678"
    assert event.model_dump()["consent"] is None  # nothing recorded yet


async def test_a_possible_duplicate_is_answered_not_stored(
    registry: UseCases, database: Database
) -> None:
    await _places(registry)
    first = await _register(registry)

    with pytest.raises(PossibleDuplicate) as by_id:
        await _register(
            registry, address="别处 9 号", members=[Member("张伟", HEAD, id_number=ID_A)]
        )
    assert [(c.household_id, c.reasons) for c in by_id.value.candidates] == [
        (first.id, ("id_number",))
    ]
    with pytest.raises(PossibleDuplicate) as by_address:
        await _register(registry, address="幸福花园３栋 402", members=[Member("李四", HEAD)])
    assert by_address.value.candidates[0].reasons == ("address",)
    assert len(await _events(database)) == 1

    second = await _register(
        registry, address="幸福花园３栋 402", members=[Member("李四", HEAD)], allow_duplicate=True
    )
    assert second.id != first.id


async def test_history_is_versioned_stale_writes_conflict_and_every_change_is_an_event(
    registry: UseCases, database: Database, now: datetime
) -> None:
    await _places(registry)
    household = await _register(registry)

    moved = await registry.changes.move_household(
        household.id,
        version=1,
        grid_id="g-01",
        address="幸福花园 3 栋 502",
        compound_id="cp-01",
        building_id="cp-01-b3",
        changed_by="staff-2",
    )
    with pytest.raises(Conflict):
        await registry.changes.change_members(
            household.id, version=1, members=[Member("张伟", HEAD)], changed_by="staff-3"
        )
    members = await registry.changes.change_members(
        household.id,
        version=2,
        members=[Member("张伟", HEAD, id_number=ID_A), Member("王芳", "spouse", id_number=ID_B)],
        changed_by="staff-3",
    )
    consent = await registry.changes.change_consent(
        household.id,
        version=3,
        integrity_scoring=True,
        notice_channels=["email", "sms"],
        recorded_by="staff-4",
    )
    contact = await registry.changes.change_contact(
        household.id,
        version=4,
        contact=Contact("new@example.cn", "13900001111", ("sms",)),
        changed_by="staff-4",
    )
    gone = await registry.changes.deregister_household(
        household.id, version=5, reason="迁出", changed_by="staff-5"
    )
    with pytest.raises(Conflict):
        await registry.changes.change_consent(
            household.id,
            version=6,
            integrity_scoring=False,
            notice_channels=["email"],
            recorded_by="x",
        )

    assert [h.version for h in (moved, members, consent, contact, gone)] == [2, 3, 4, 5, 6]
    history = (await registry.history.household_history(household.id, PageRequest())).items
    assert [(e.version, e.change, e.changed_by) for e in history] == [
        (1, "registered", "staff-1"),
        (2, "moved", "staff-2"),
        (3, "members-changed", "staff-3"),
        (4, "consent-changed", "staff-4"),
        (5, "contact-changed", "staff-4"),
        (6, "deregistered", "staff-5"),
    ]
    assert ID_B not in str([e.summary for e in history])

    events = await _events(database)
    assert [type(e).__name__ for e in events] == [
        "HouseholdRegistered",
        "HouseholdMoved",
        "HouseholdMembersChanged",
        "HouseholdConsentChanged",
        "HouseholdContactChanged",
        "HouseholdDeregistered",
    ]
    assert [e.model_dump()["version"] for e in events] == [1, 2, 3, 4, 5, 6]
    consent_event = events[3].model_dump()
    assert consent_event["consent"]["integrity_scoring"] is True
    assert consent_event["consent"]["notice_channels"] == ["email", "sms"]
    assert consent_event["consent"]["recorded_by"] == "staff-4"
    assert consent_event["consent"]["recorded_at"] == now


async def test_every_change_to_a_place_is_announced_with_its_state(
    registry: UseCases, database: Database, now: datetime
) -> None:
    await _places(registry)
    await registry.territory.assign_grid_worker("g-01", worker_id="w-wang", worker_name="王")
    await registry.territory.change_community("xingfu", name="幸福社区", time_zone="Asia/Urumqi")

    events = await _place_events(database)
    assert [type(e) for e in events] == [
        CommunityCreated,
        GridCreated,
        CompoundCreated,
        BuildingCreated,
        GridChanged,
        CommunityChanged,
    ]
    created, grid, compound, building, worker, zone = events
    assert created == CommunityCreated(
        community_id="xingfu", name="幸福社区", time_zone="Asia/Shanghai", created_at=now
    )
    assert (grid.partition_key(), compound.partition_key()) == ("g-01", "cp-01")
    assert isinstance(compound, CompoundCreated)
    assert (compound.grid_id, compound.community_id, compound.name) == (
        "g-01",
        "xingfu",
        "幸福花园",
    )
    assert isinstance(building, BuildingCreated)
    assert (building.compound_id, building.grid_id) == ("cp-01", "g-01")
    assert isinstance(worker, GridChanged)
    assert (worker.worker_id, worker.worker_name) == ("w-wang", "王")
    assert isinstance(zone, CommunityChanged) and zone.time_zone == "Asia/Urumqi"


async def test_a_community_has_a_valid_time_zone_defaulting_to_the_setting(
    database: Database, clock: FixedClock
) -> None:
    territory = build_use_cases(
        database, RegistrySettings(default_time_zone="Europe/Berlin"), clock
    ).territory
    assert (await territory.create_community(id="berlin", name="Kiez")).time_zone == "Europe/Berlin"
    with pytest.raises(RuleViolation) as bad:
        await territory.create_community(id="x", name="X", time_zone="Mars/Olympus")
    assert bad.value.field == "time_zone"
    with pytest.raises(RuleViolation):
        await territory.change_community("berlin", name="Kiez", time_zone="Nowhere")
    assert [type(e) for e in await _place_events(database)] == [CommunityCreated]


async def test_search_filters_and_paginates(registry: UseCases) -> None:
    await _places(registry)
    await _register(registry)
    for i in range(4):
        await _register(
            registry,
            address=f"幸福路 {10 + i} 号",
            members=[Member(f"户主{i}", HEAD)],
            compound_id=None,
            building_id=None,
        )

    everyone = await registry.disclosure.search_households(
        HouseholdFilter(), PageRequest(limit=2, offset=0)
    )
    assert (everyone.total, len(everyone.items)) == (5, 2)
    rest = await registry.disclosure.search_households(
        HouseholdFilter(), PageRequest(limit=2, offset=4)
    )
    assert len(rest.items) == 1
    by_tail = await registry.disclosure.search_households(
        HouseholdFilter(id_tail="002x"), PageRequest()
    )
    assert [h.members[0].name for h in by_tail.items] == ["张伟"]
    by_compound = await registry.disclosure.search_households(
        HouseholdFilter(compound_id="cp-01"), PageRequest()
    )
    assert by_compound.total == 1
    by_name = await registry.disclosure.search_households(
        HouseholdFilter(name="户主2"), PageRequest()
    )
    assert [h.address for h in by_name.items] == ["幸福路 12 号"]
    by_address = await registry.disclosure.search_households(
        HouseholdFilter(address="幸福路 1"), PageRequest()
    )
    assert by_address.total == 4


async def test_a_property_manager_takes_over_a_compound_and_the_old_one_is_told(
    registry: UseCases, database: Database
) -> None:
    await _places(registry)
    first = await registry.organisations.register_organisation(
        kind=OrganisationKind.PROPERTY_MANAGER,
        name="安居物业",
        community_id="xingfu",
        grid_id="g-01",
        compound_ids=["cp-01"],
        frontage_segments=[],
        contact=Contact("anju@example.cn", None, ("email",)),
    )
    second = await registry.organisations.register_organisation(
        kind=OrganisationKind.PROPERTY_MANAGER,
        name="乐居物业",
        community_id="xingfu",
        grid_id="g-01",
        compound_ids=["cp-01"],
        frontage_segments=[],
        contact=Contact("leju@example.cn", None, ("email",)),
    )
    compound, _ = await registry.territory.get_compound("cp-01")
    assert compound.property_manager_id == second.id
    assert (await registry.organisations.get_organisation(first.id)).compound_ids == ()

    events = [e.model_dump() for e in await _events(database)]
    assert [(e["organisation_id"], e["compound_ids"], e["version"]) for e in events] == [
        (first.id, ["cp-01"], 1),
        (second.id, ["cp-01"], 1),
        (first.id, [], 2),
    ]
    compound_changes = [e for e in await _place_events(database) if isinstance(e, CompoundChanged)]
    assert [(e.compound_id, e.property_manager_id) for e in compound_changes] == [
        ("cp-01", first.id),
        ("cp-01", second.id),
    ]
    await registry.organisations.change_organisation(
        second.id,
        version=1,
        name="乐居物业",
        grid_id="g-01",
        compound_ids=[],
        frontage_segments=[],
        contact=Contact("leju@example.cn", None, ("email",)),
    )
    [*_, released] = await _place_events(database)
    assert isinstance(released, CompoundChanged)
    assert (released.compound_id, released.property_manager_id) == ("cp-01", None)
    with pytest.raises(Conflict):
        await registry.organisations.change_organisation(
            first.id,
            version=1,
            name="安居物业",
            grid_id="g-01",
            compound_ids=[],
            frontage_segments=[],
            contact=Contact("anju@example.cn", None, ("email",)),
        )


# --- HTTP -----------------------------------------------------------------------------------

STAFF = bearer("community_staff", subject="staff-7")


def _body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "community_id": "xingfu",
        "grid_id": "g-01",
        "address": "幸福路 8 号",
        "members": [
            {"name": "张伟", "relation": "head", "id_number": ID_A, "phone": "13812345678"}
        ],
        "contact_email": "zhang@example.cn",
    }
    body.update(overrides)
    return body


async def test_personal_data_is_masked_unless_staff_reveal(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/households", json=_body(), headers=STAFF)
    assert created.status_code == 201, created.text
    member = created.json()["members"][0]
    assert (member["id_number"], member["phone"]) == ("1****************X", "138****5678")
    assert "birth_date" not in member
    url = f"/v1/households/{created.json()['id']}"

    revealed = await client.get(url, params={"reveal": "true"}, headers=STAFF)
    assert revealed.json()["members"][0]["id_number"] == ID_A
    masked = await client.get(url, headers=bearer("inspector", ["g-01"]))
    assert masked.json()["members"][0]["phone"] == "138****5678"
    refused = await client.get(
        url, params={"reveal": "true"}, headers=bearer("inspector", ["g-01"])
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize(
    ("member", "field"),
    [
        ({"id_number": "110105194912310021"}, "members.0.id_number"),
        ({"phone": "2381234567"}, "members.0.phone"),
    ],
)
async def test_bad_id_numbers_and_phones_are_422_naming_the_field(
    client: httpx.AsyncClient, member: dict[str, str], field: str
) -> None:
    body = _body(members=[{"name": "张伟", "relation": "head", **member}])
    response = await client.post("/v1/households", json=body, headers=STAFF)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_a_duplicate_is_409_with_candidates_and_a_stale_change_is_409(
    client: httpx.AsyncClient,
) -> None:
    first = (await client.post("/v1/households", json=_body(), headers=STAFF)).json()
    again = await client.post("/v1/households", json=_body(address="别处"), headers=STAFF)
    assert again.status_code == 409
    assert again.json()["type"].endswith("possible-duplicate")
    assert again.json()["candidates"] == [{"household_id": first["id"], "reasons": ["id_number"]}]

    url = f"/v1/households/{first['id']}/move"
    move = {"version": 1, "grid_id": "g-02", "address": "和平路 2 号"}
    assert (await client.post(url, json=move, headers=STAFF)).json()["version"] == 2
    stale = await client.post(url, json={**move, "address": "和平路 3 号"}, headers=STAFF)
    assert stale.status_code == 409
    assert stale.json()["type"].endswith("conflict")
    missing = await client.post(f"/v1/households/{uuid.uuid4()}/move", json=move, headers=STAFF)
    assert missing.status_code == 404


async def test_lists_are_paginated_with_a_cap(client: httpx.AsyncClient) -> None:
    for i in range(3):
        body = _body(address=f"幸福路 {i} 号", members=[{"name": f"户{i}", "relation": "head"}])
        assert (await client.post("/v1/households", json=body, headers=STAFF)).status_code == 201
    page = await client.get("/v1/households", params={"limit": 2, "offset": 2}, headers=STAFF)
    assert page.status_code == 200
    assert (page.json()["total"], len(page.json()["items"]), page.json()["offset"]) == (3, 1, 2)
    too_many = await client.get("/v1/households", params={"limit": 5000}, headers=STAFF)
    assert too_many.status_code == 422
    assert "query.limit" in {e["field"] for e in too_many.json()["errors"]}


async def test_the_history_is_a_page_with_its_total(client: httpx.AsyncClient) -> None:
    created = (await client.post("/v1/households", json=_body(), headers=STAFF)).json()
    url = f"/v1/households/{created['id']}"
    move = {"version": 1, "grid_id": "g-01", "address": "幸福路 9 号"}
    assert (await client.post(f"{url}/move", json=move, headers=STAFF)).status_code == 200

    page = await client.get(f"{url}/history", params={"limit": 1, "offset": 1}, headers=STAFF)

    assert page.status_code == 200, page.text
    body = page.json()
    assert (body["total"], body["limit"], body["offset"]) == (2, 1, 1)
    assert [(e["version"], e["change"]) for e in body["items"]] == [(2, "moved")]


async def test_unknown_compound_is_422_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/households", json=_body(compound_id="nope"), headers=STAFF)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "compound_id"


async def test_residents_keep_their_id_across_member_changes_and_moves(
    registry: UseCases, database: Database
) -> None:
    await _places(registry)
    household = await _register(
        registry,
        members=[
            Member("张伟", HEAD, id_number=ID_A),
            Member("张小伟", "child"),
        ],
    )
    head, child = (m.resident_id for m in household.members)
    assert head is not None and child is not None and head != child

    moved = await registry.changes.move_household(
        household.id,
        version=1,
        grid_id="g-01",
        address="幸福花园 3 栋 501",
        compound_id="cp-01",
        building_id="cp-01-b3",
        changed_by="staff-2",
    )
    assert [m.resident_id for m in moved.members] == [head, child]

    changed = await registry.changes.change_members(
        household.id,
        version=2,
        members=[
            Member("张伟", HEAD, id_number=ID_A),  # matched by ID number
            Member("张小伟", "child", resident_id=child),  # sent back
            Member("李娜", "spouse", id_number=ID_B),  # new
        ],
        changed_by="staff-3",
    )
    newcomer = changed.members[2].resident_id
    assert [m.resident_id for m in changed.members[:2]] == [head, child]
    assert newcomer not in (None, head, child)
    assert [
        m.resident_id for m in (await registry.disclosure.get_household(household.id)).members
    ] == [
        head,
        child,
        newcomer,
    ]

    with pytest.raises(RuleViolation) as foreign:
        await registry.changes.change_members(
            household.id,
            version=3,
            members=[Member("张伟", HEAD, resident_id=uuid.uuid4())],
            changed_by="staff-3",
        )
    assert foreign.value.field == "members.0.resident_id"

    registered, members_changed = [
        e
        for e in await _events(database)
        if isinstance(e, HouseholdRegistered | HouseholdMembersChanged)
    ]
    assert [m.resident_id for m in registered.members] == [head, child]
    assert [m.resident_id for m in members_changed.members] == [head, child, newcomer]


async def test_a_resident_who_moves_to_another_household_stays_one_resident(
    registry: UseCases,
) -> None:
    await _places(registry)
    first = await _register(registry, members=[Member("张伟", HEAD, id_number=ID_A)])
    await registry.changes.deregister_household(
        first.id, version=1, reason="搬走", changed_by="staff-1"
    )
    second = await _register(
        registry, address="幸福路 9 号", members=[Member("张伟", HEAD, id_number=ID_A)]
    )
    assert second.members[0].resident_id == first.members[0].resident_id
