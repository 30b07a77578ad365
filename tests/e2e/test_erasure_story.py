"""Erasure reaches every copy, checked over the running services (real Kafka and PostgreSQL).

The story: a household with two members (names, ID numbers, phones), an e-mail, a phone and an
address; a failed inspection whose note names the spouse and her phone; notify delivers the notice
(the note in it: it travelled sealed under the joint key of the household and its members, and was
opened); credit lowers the score. Before the erasure the scan of every service's database must find
the spouse (so it cannot pass on nothing), and a staff member has searched for her by name and ID
number. Then the spouse is erased: once every service has answered, no table of any of the four
databases (the audit trail of that search included) holds her name, ID number or phone, the
services' logs do not either, and no record of any Kafka topic of the platform (every stream,
partner topic and dead-letter topic, read from the beginning) holds them in clear, and everything
sealed for her (her name, the note, under the joint key of the household and both members) opens
under no key the registry still gives out; the head's data are intact. Then the whole household is
erased, and nothing of anyone in it is left.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from linli_shared.audit import HASHED
from linli_shared.contracts import topics
from linli_shared.crypto import BlindIndex
from linli_shared.settings import DEV_AUDIT_HASH_KEY
from tests.conftest import SharedPlatform, bearer
from tests.support.events import namespace_texts, read_topics
from tests.support.families import record_failed_inspection, register_family
from tests.support.platform import SERVICES, Platform, notify_token
from tests.support.polling import eventually
from tests.support.residents import resident_id
from tests.support.scan import database_text, where_found
from tests.support.sealed import Sealed, sealed_values

STAFF = bearer("community_staff")
KEY_READER = {"Authorization": f"Bearer {notify_token()}"}
OFFICER = bearer("credit_officer")
HEAD = {"name": "上官志远", "id_number": resident_id("11010519680411"), "phone": "13611113333"}
SPOUSE = {"name": "诸葛婉清", "id_number": resident_id("11010519710923"), "phone": "13722224444"}
ADDRESS = "晴川路 17 弄 3 号 602 室"
YESTERDAY = datetime.now(UTC) - timedelta(days=1)


def personal(member: dict[str, str]) -> list[str]:
    """What of a member may be found: name, ID number and its parts, phone and its parts."""
    id_number, phone = member["id_number"], member["phone"]
    return [member["name"], id_number, id_number[6:14], phone, phone[-8:]]


async def scan(platform: Platform) -> dict[str, str]:
    """Every table of every service's database, and the services' logs, as text."""
    texts: dict[str, str] = {}
    for service in SERVICES:
        for table, text in (await database_text(platform.database_url(service))).items():
            texts[f"{service}.{table}"] = text
    texts["logs"] = platform.logs()
    return texts


async def scan_topics(shared: SharedPlatform) -> dict[str, str]:
    """Every topic of the platform's namespace, from the beginning, as text per topic."""
    bootstrap = shared.platform.env["LINLI_KAFKA_BOOTSTRAP_SERVERS"]
    return await namespace_texts(bootstrap, shared.namespace)


async def test_an_erased_resident_and_then_her_household_are_gone_from_every_service(
    shared_platform: SharedPlatform, http: httpx.AsyncClient
) -> None:
    platform = shared_platform.platform
    registry, inspections = platform.url("registry"), platform.url("inspections")
    grid, email = f"g-erase-{uuid.uuid4().hex[:6]}", f"shangguan.{uuid.uuid4().hex[:6]}@example.cn"
    inspector = bearer("inspector", subject="inspector-wu", grids=[grid])

    household, spouse_id = await register_family(
        http,
        registry,
        STAFF,
        community=("qingchuan", "晴川社区"),
        grid=(grid, "五网格"),
        head=HEAD,
        spouse=SPOUSE,
        address=ADDRESS,
        email=email,
    )
    household_id = household["id"]

    note = f"{SPOUSE['name']}（{SPOUSE['phone']}）在楼道堆放杂物"
    inspection_id = await record_failed_inspection(
        http, inspections, inspector, household_id, note, YESTERDAY
    )

    async def told() -> bool:
        # The score's notice may come first: the rectification notice carries the note.
        return any(note in mail.body for mail in shared_platform.smtp_sink.mails_to(email))

    # The note travelled sealed, and notify opened it.
    await eventually(told, "the rectification notice, with the note, to reach the household")

    async def scored() -> bool:
        response = await http.get(
            f"{platform.url('credit')}/v1/subjects/{household_id}/score", headers=OFFICER
        )
        return response.status_code == 200 and response.json()["score"] < 1000

    await eventually(scored, "credit to lower the household's score")

    # A staff member looks her up by name and ID number: the audit trail keeps the search, for
    # 1095 days and past her erasure, with what it asked only as keyed hashes.
    searched = await http.get(
        f"{registry}/v1/households",
        params={"reveal": "true", "name": SPOUSE["name"], "id_number": SPOUSE["id_number"]},
        headers=STAFF,
    )
    assert searched.status_code == 200 and searched.json()["total"] == 1, searched.text

    before = await scan(platform)
    assert {f.split(" in ")[1] for f in where_found(before, [SPOUSE["name"]])} >= {
        "registry.members",
        "registry.household_history",
        "inspections.findings",
        "notify.notices",
    }, "the scan finds the spouse where the story put her"
    searched_for = HASHED + BlindIndex(DEV_AUDIT_HASH_KEY).of(SPOUSE["name"])
    assert searched_for in before["registry.audit_log"], "the trail holds the search"

    streams = await scan_topics(shared_platform)
    inspections_stream = shared_platform.namespace + topics.INSPECTIONS
    assert inspection_id in streams[inspections_stream], "the scan reads the inspection's events"
    assert any(".dlq." in topic for topic in streams), "the scan reads the dead letters too"

    [note_seal] = await _sealed_notes(shared_platform, inspection_id)
    assert spouse_id in note_seal.needs, "the note needs the key of every member it may name"
    keys = await _live_keys(http, registry, note_seal.needs)
    assert note_seal.opened(keys) == {"note": note}

    erasure = await _erased(http, registry, household_id, {"resident_id": spouse_id})
    assert erasure["removed"]["inspections"]["finding_notes"] == 1
    assert erasure["removed"]["notify"]["notice_texts"] >= 1

    after = await scan(platform)
    assert where_found(after, personal(SPOUSE)) == [], where_found(after, personal(SPOUSE))
    assert {f.split(" in ")[1] for f in where_found(after, [HEAD["name"], ADDRESS, email])} >= {
        "registry.members",
        "notify.recipients",
    }, "the head, the address and the contact are intact"
    on_topics = where_found(await scan_topics(shared_platform), personal(SPOUSE))
    assert on_topics == [], on_topics
    left = await _live_keys(http, registry, note_seal.needs)
    assert left[spouse_id] is None and left[household_id] is not None
    assert not note_seal.opens_under_any(left), "the sealed note naming her no longer opens"
    hers = [s for s in await _sealed_on_the_streams(shared_platform) if spouse_id in s.needs]
    assert {s.bound for s in hers} == {spouse_id, household_id}, "her name, and the note"
    assert not [s for s in hers if s.opens_under_any(left)], "nothing sealed for her opens"
    kept = await http.get(f"{registry}/v1/households/{household_id}", headers=STAFF)
    assert [m["name"] for m in kept.json()["members"]] == [HEAD["name"]]

    await _erased(http, registry, household_id, {})
    everything = personal(HEAD) + personal(SPOUSE) + [ADDRESS, email]
    assert where_found(await scan(platform), everything) == []


async def _sealed_notes(shared: SharedPlatform, inspection_id: str) -> list[Sealed]:
    """The inspection's sealed notes as its `inspection.failed` carries them on the topic."""
    bootstrap = shared.platform.env["LINLI_KAFKA_BOOTSTRAP_SERVERS"]
    stream = await read_topics(bootstrap, shared.namespace, [topics.INSPECTIONS])
    return [
        sealed
        for event in stream
        if event.type.endswith(".inspection.failed.v1")
        and event.data.get("inspection_id") == inspection_id
        for sealed in sealed_values(event.data)
    ]


async def _sealed_on_the_streams(shared: SharedPlatform) -> list[Sealed]:
    """Every sealed value on the registry's and inspections' streams, from the beginning."""
    bootstrap = shared.platform.env["LINLI_KAFKA_BOOTSTRAP_SERVERS"]
    streams = await read_topics(bootstrap, shared.namespace, [topics.REGISTRY, topics.INSPECTIONS])
    return [sealed for event in streams for sealed in sealed_values(event.data)]


async def _live_keys(
    http: httpx.AsyncClient, registry: str, subjects: Iterable[str]
) -> dict[str, str | None]:
    """The subjects' keys as the registry gives them to a key reader; None once destroyed."""
    keys: dict[str, str | None] = {}
    for subject in subjects:
        answer = await http.get(f"{registry}/v1/subject-keys/{subject}", headers=KEY_READER)
        assert answer.status_code in (200, 410), answer.text
        keys[subject] = answer.json()["key"] if answer.status_code == 200 else None
    return keys


async def _erased(
    http: httpx.AsyncClient, registry: str, household_id: str, body: dict[str, str]
) -> dict[str, Any]:
    started = await http.post(
        f"{registry}/v1/households/{household_id}/erasures",
        json={**body, "reason": "本人申请删除个人信息（个人信息保护法第四十七条）"},
        headers=STAFF,
    )
    assert started.status_code == 202, started.text

    async def completed() -> dict[str, Any] | None:
        response = await http.get(f"{registry}/v1/erasures/{started.json()['id']}", headers=STAFF)
        erasure: dict[str, Any] = response.json()
        return erasure if erasure["status"] == "completed" else None

    return await eventually(completed, "every service to answer the erasure")
