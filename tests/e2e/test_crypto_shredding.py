"""Crypto-shredding over real processes, Kafka, PostgreSQL and SMTP (docs/privacy.md).

Three households register with members (names, ID numbers, phones), an address and a contact; each
fails an inspection whose note names a member and her phone (sealed under the joint key of the
household and its members); notify tells the first two by e-mail, the note opened. A copy of the
first household's event, pasted under the third household's id, is refused by notify into its
dead-letter topic. Then one resident's key (the first household's head) and one household's key
(the second's) are destroyed, and notify's consumer group is rewound with its copies gone (as the
erasure would leave it) and its inbox pruned, so every event is applied again.

Afterwards `linli.registry.v1`, `linli.inspections.v1` and their dead-letter topics, read from the
beginning, hold nobody's name, ID number, phone, e-mail or address in clear; what was sealed under
the destroyed keys (the first household's note included: it needs the head's key) opens under no
key the registry still holds; the replay brought none of it back into notify (the second
household's rectification notice, made anew, has no note); and the other subjects' data (the
third's note included) are intact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from sqlalchemy import delete, select, update

from linli_notify.adapters.tables import deliveries, notices, recipients
from linli_notify.adapters.tables import inbox as notify_inbox
from linli_registry.adapters.subject_keys import SubjectKeys
from linli_registry.adapters.tables import subject_keys
from linli_registry.settings import RegistrySettings
from linli_shared.clock import SystemClock
from linli_shared.contracts import topics
from linli_shared.contracts.topics import dead_letter_topic
from linli_shared.crypto import SealBroken
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope
from tests.conftest import bearer
from tests.support.events import group_lag, read_topics
from tests.support.infra import KafkaService
from tests.support.platform import Platform, notify_token
from tests.support.polling import eventually
from tests.support.sealed import sealed_values
from tests.support.smtp import SmtpSink

STAFF = bearer("community_staff")
INSPECTOR = bearer("inspector", grids=["g-shred"])
KEY_READER = {"Authorization": f"Bearer {notify_token()}"}
REGISTRY_DEAD_LETTERS = [
    dead_letter_topic(topics.REGISTRY, group)
    for group in ("linli-credit", "linli-inspections", "linli-notify")
]
INSPECTIONS_DEAD_LETTERS = [
    dead_letter_topic(topics.INSPECTIONS, group) for group in ("linli-credit", "linli-notify")
]

HOUSEHOLDS: dict[str, dict[str, Any]] = {
    "erased-head": {
        "address": "幸福路 101 号 1 栋 101",
        "members": [
            {"name": "欧阳建国", "relation": "head", "id_number": "11010519491231002X",
             "phone": "13911110001"},
            {"name": "司马秀英", "relation": "spouse", "phone": "13911110002"},
        ],
        "contact_email": "ouyang.jianguo@example.cn",
        "contact_phone": "13911110003",
    },
    "erased-household": {
        "address": "安康路 202 号 2 栋 202",
        "members": [
            {"name": "诸葛明亮", "relation": "head", "id_number": "110101199003074477",
             "phone": "13922220001"},
        ],
        "contact_email": "zhuge.mingliang@example.cn",
        "contact_phone": "13922220002",
    },
    "kept": {
        "address": "和平路 303 号 3 栋 303",
        "members": [
            {"name": "上官婉儿", "relation": "head", "phone": "13933330001"},
        ],
        "contact_email": "shangguan.waner@example.cn",
        "contact_phone": "13933330002",
    },
}  # fmt: skip


def _personal(household: dict[str, Any]) -> list[str]:
    values = [household["address"], household["contact_email"], household["contact_phone"]]
    for member in household["members"]:
        values += [member["name"], member["phone"]]
        if "id_number" in member:
            values += [member["id_number"], member["id_number"][-6:]]
    return values


async def _register(http: httpx.AsyncClient, platform: Platform) -> dict[str, dict[str, Any]]:
    registered = {}
    for label, household in HOUSEHOLDS.items():
        response = await http.post(
            f"{platform.url('registry')}/v1/households",
            headers=STAFF,
            json={
                "community_id": "c-shred",
                "grid_id": "g-shred",
                "preferred_channels": ["email"],
                "allow_duplicate": True,
                **household,
            },
        )
        assert response.status_code == 201, response.text
        registered[label] = response.json()
    return registered


def _note(household: dict[str, Any]) -> str:
    """An inspector's note naming the household's last member and her phone."""
    member = household["members"][-1]
    return f"{member['name']}（{member['phone']}）门口堆放杂物"


async def _fail_an_inspection(
    http: httpx.AsyncClient, platform: Platform, household: str, note: str
) -> None:
    inspection = str(uuid.uuid4())

    async def recorded() -> bool:
        response = await http.post(
            f"{platform.url('inspections')}/v1/inspections",
            headers=INSPECTOR,
            json={
                "id": inspection,
                "subject_id": household,
                "checklist": "sanitation",
                "findings": [{"item": "no-exposed-garbage", "passed": False, "note": note}],
            },
        )
        return response.status_code in (200, 201)

    await eventually(recorded, f"inspections to know household {household}")


async def _paste_into_another_record(
    bootstrap: str, namespace: str, registered: Envelope, other: str
) -> str:
    """The first household's event, its sealed values copied under another household's id."""
    data = {**registered.data, "household_id": other}
    copy = Envelope(
        id=str(uuid.uuid4()),
        type=registered.type,
        source=registered.source,
        subject=other,
        time=registered.time,
        data=data,
        correlation_id="pasted",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            namespace + topics.REGISTRY, copy.to_json(), key=other.encode()
        )
    finally:
        await producer.stop()
    return copy.id


def _linli(platform: Platform, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "linli", *args],
        env={**os.environ, **platform.env},
        capture_output=True,
        check=True,
    )


async def _recipient(database: Database, recipient_id: str) -> Any:
    async with database.connect() as connection:
        return (
            await connection.execute(
                select(recipients).where(recipients.c.id == uuid.UUID(recipient_id))
            )
        ).one_or_none()


async def test_destroyed_keys_leave_nothing_readable_on_the_topic_its_dead_letters_or_in_notify(
    platform: Platform,
    http: httpx.AsyncClient,
    kafka: KafkaService,
    kafka_namespace: str,
    smtp_sink: SmtpSink,
) -> None:
    registered = await _register(http, platform)
    erased_head = registered["erased-head"]
    head_resident = erased_head["members"][0]["resident_id"]
    erased_household = registered["erased-household"]["id"]
    kept = registered["kept"]
    for label in HOUSEHOLDS:
        await _fail_an_inspection(http, platform, registered[label]["id"], _note(HOUSEHOLDS[label]))
    for label in ("erased-head", "erased-household"):
        email = HOUSEHOLDS[label]["contact_email"]

        async def told(address: str = email, note: str = _note(HOUSEHOLDS[label])) -> bool:
            # The score's notice may come first: the rectification notice carries the note.
            return any(note in mail.body for mail in smtp_sink.mails_to(address))

        await eventually(told, f"the rectification notice to {email}, the note opened")

    stream = await read_topics(kafka.bootstrap, kafka_namespace, [topics.REGISTRY])
    [first] = [e for e in stream if e.subject == erased_head["id"]]
    pasted = await _paste_into_another_record(kafka.bootstrap, kafka_namespace, first, kept["id"])

    async def pasted_is_dead_lettered() -> bool:
        letters = await read_topics(kafka.bootstrap, kafka_namespace, REGISTRY_DEAD_LETTERS)
        return any(letter.id == pasted for letter in letters)

    await eventually(pasted_is_dead_lettered, "notify to refuse the pasted seal")

    # The erasure's part: the keys destroyed in the registry's database.
    registry_db = Database(platform.database_url("registry"))
    notify_db = Database(platform.database_url("notify"))
    try:
        keys = SubjectKeys(registry_db, RegistrySettings().cipher(), SystemClock())
        await keys.destroy(uuid.UUID(head_resident), "resident")
        await keys.destroy(uuid.UUID(erased_household), "household")

        # Notify's copies gone (as the erasure leaves them) and its inbox pruned; then a replay.
        platform.workers["notify"].stop()
        async with notify_db.transaction() as connection:
            await connection.execute(
                delete(recipients).where(
                    recipients.c.id.in_([uuid.UUID(erased_head["id"]), uuid.UUID(erased_household)])
                )
            )
            await connection.execute(delete(notify_inbox))
            # The erased household's notices too: the replay makes its rectification notice anew.
            theirs = select(notices.c.id).where(
                notices.c.recipient_id == uuid.UUID(erased_household)
            )
            await connection.execute(delete(deliveries).where(deliveries.c.notice_id.in_(theirs)))
            await connection.execute(delete(notices).where(notices.c.id.in_(theirs)))
            # Not even the kept household's copy is trusted: the replay writes it again.
            await connection.execute(
                update(recipients)
                .where(recipients.c.id == uuid.UUID(kept["id"]))
                .values(name="", address=None, email=None, phone=None)
            )
        _linli(platform, "consumers", "reset", "notify")
        platform.workers["notify"].start()
        platform.wait_worker_ready("notify")

        async def replayed() -> bool:
            lag = await group_lag(
                kafka.bootstrap,
                kafka_namespace,
                "linli-notify",
                [topics.REGISTRY, topics.INSPECTIONS, topics.CREDIT],
            )
            return lag == 0 and await _recipient(notify_db, erased_household) is not None

        await eventually(replayed, "notify to re-consume every topic", within=120)

        head_household = await _recipient(notify_db, erased_head["id"])
        assert head_household.name == ""  # the head's name: gone with the resident's key
        assert head_household.address == HOUSEHOLDS["erased-head"]["address"]
        assert head_household.email == HOUSEHOLDS["erased-head"]["contact_email"]
        gone = await _recipient(notify_db, erased_household)
        assert (gone.address, gone.email, gone.phone) == (None, None, None)
        assert gone.name == "诸葛明亮"  # the resident's own key still opens the name

        # Its inspector's note, sealed under the destroyed household key, does not come back.
        async def remade() -> list[Any] | None:
            async with notify_db.connect() as connection:
                rows = (
                    await connection.execute(
                        select(notices.c.variables).where(
                            notices.c.recipient_id == uuid.UUID(erased_household),
                            notices.c.notice_type == "rectification",
                        )
                    )
                ).all()
            return [row.variables for row in rows] or None

        [variables] = await eventually(remade, "notify to make the notice anew from the replay")
        assert [f["note"] for f in variables["findings"]] == [None]
        assert _note(HOUSEHOLDS["erased-household"]) not in json.dumps(
            variables, ensure_ascii=False
        )
        intact = await _recipient(notify_db, kept["id"])
        assert (intact.name, intact.address, intact.email, intact.phone) == (
            "上官婉儿",
            HOUSEHOLDS["kept"]["address"],
            HOUSEHOLDS["kept"]["contact_email"],
            HOUSEHOLDS["kept"]["contact_phone"],
        )

        async with registry_db.connect() as connection:
            destroyed = (
                await connection.execute(
                    select(subject_keys).where(subject_keys.c.destroyed_at.is_not(None))
                )
            ).all()
        assert {(str(r.subject_id), r.key_enc) for r in destroyed} == {
            (head_resident, None),
            (erased_household, None),
        }
    finally:
        await registry_db.dispose()
        await notify_db.dispose()

    # Nothing in clear, anywhere on the topic or in its dead letters, about anybody.
    every = await read_topics(
        kafka.bootstrap,
        kafka_namespace,
        [topics.REGISTRY, *REGISTRY_DEAD_LETTERS, topics.INSPECTIONS, *INSPECTIONS_DEAD_LETTERS],
    )
    assert any(e.id == pasted for e in every) and len(every) >= 4
    text = "\n".join(json.dumps(e.data, ensure_ascii=False) for e in every)
    for household in HOUSEHOLDS.values():
        for value in _personal(household):
            assert value not in text, f"{value} in clear on a topic"

    # What was sealed under a destroyed key opens under no key the registry still gives out.
    async def key(subject: str) -> str | None:
        answer = await http.get(
            f"{platform.url('registry')}/v1/subject-keys/{subject}", headers=KEY_READER
        )
        assert answer.status_code in (200, 410), answer.text
        return answer.json()["key"] if answer.status_code == 200 else None

    subjects = {erased_head["id"], erased_household, kept["id"]} | {
        m["resident_id"] for h in registered.values() for m in h["members"]
    }
    live = {subject: await key(subject) for subject in subjects}
    assert live[head_resident] is None and live[erased_household] is None
    sealed = [value for e in every for value in sealed_values(e.data)]
    shredded = [v for v in sealed if {head_resident, erased_household} & set(v.needs)]
    assert shredded, "the destroyed subjects' data did travel, sealed"
    assert {v.bound for v in shredded if len(v.needs) > 1} >= {erased_head["id"]}, (
        "the note about the head's household needs the head's key too"
    )
    for each in shredded:
        assert not each.opens_under_any(live), f"a value sealed for {each.bound} still opens"
    # The other subjects' sealed data still open with their own keys (the pasted copies aside).
    opened = []
    for each in sealed:
        if each.bound == kept["id"]:
            try:
                opened.append(each.opened(live))
            except SealBroken:
                continue  # the first household's values pasted under the kept one's id
    assert {"address": HOUSEHOLDS["kept"]["address"]} in opened
    assert {"note": _note(HOUSEHOLDS["kept"])} in opened
    assert {
        "email": HOUSEHOLDS["kept"]["contact_email"],
        "phone": HOUSEHOLDS["kept"]["contact_phone"],
    } in opened
