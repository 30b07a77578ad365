"""An erasure survives a replay of everything (docs/privacy.md): real processes, Kafka, PostgreSQL.

The story: a household with two members (names, ID numbers, phones); a five-good award and the
spouse's volunteer hours bring it to AA and the service hall's check grants the green channel;
then a failed inspection whose note names the spouse and her phone lowers the score, a notice is
delivered, and the green channel is lost. The spouse is erased.
Then every worker stops, every service forgets which events it applied (its inbox emptied), every
consumer group is rewound to the beginning, the workers re-consume every topic, and credit
rebuilds its scores. Afterwards no table of any service, no topic of the platform (streams and
dead letters, read from the beginning) and no service's log holds her name, ID number or phone in
clear, and the head's data are intact.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import delete

from linli_credit.domain.ledger import FIVE_GOOD_CRITERIA
from linli_shared.contracts import topics
from linli_shared.db import Database
from tests.conftest import bearer
from tests.support.events import group_lag, namespace_texts
from tests.support.families import record_failed_inspection, register_family
from tests.support.infra import KafkaService
from tests.support.platform import SERVICES, Platform
from tests.support.polling import eventually
from tests.support.residents import resident_id
from tests.support.scan import database_text, where_found

STAFF = bearer("community_staff")
OFFICER = bearer("credit_officer")
HALL = bearer("service", subject="hall-replay")
INSPECTOR = bearer("inspector", subject="inspector-he", grids=["g-replay"])
HEAD = {"name": "欧阳立新", "id_number": resident_id("11010519660517"), "phone": "13655556666"}
SPOUSE = {"name": "慕容晓雯", "id_number": resident_id("11010519690228"), "phone": "13788889999"}
ADDRESS = "明月路 5 弄 2 号 301 室"
EMAIL = "ouyang.lixin@example.cn"

# What each service's consumer group reads (its subscriptions, consumers/__init__.py).
READS = {
    "registry": [topics.INSPECTIONS, topics.CREDIT, topics.NOTIFY],
    "inspections": [topics.REGISTRY, topics.NOTIFY],
    "credit": [topics.REGISTRY, topics.INSPECTIONS],
    "notify": [topics.REGISTRY, topics.INSPECTIONS, topics.CREDIT],
}


def personal(member: dict[str, str]) -> list[str]:
    id_number, phone = member["id_number"], member["phone"]
    return [member["name"], id_number, id_number[6:14], phone, phone[-8:]]


async def test_an_erased_resident_stays_erased_after_every_group_replays_everything(
    platform: Platform, http: httpx.AsyncClient, kafka: KafkaService, kafka_namespace: str
) -> None:
    registry = platform.url("registry")
    household_id, spouse_id = await _story(http, platform)

    erasure = await http.post(
        f"{registry}/v1/households/{household_id}/erasures",
        json={"resident_id": spouse_id, "reason": "本人申请删除个人信息"},
        headers=STAFF,
    )
    assert erasure.status_code == 202, erasure.text

    async def completed() -> bool:
        response = await http.get(f"{registry}/v1/erasures/{erasure.json()['id']}", headers=STAFF)
        return bool(response.json()["status"] == "completed")

    await eventually(completed, "every service to answer the erasure")

    # Everything again: no worker remembers what it applied, every group starts from the start.
    for service in SERVICES:
        platform.workers[service].stop()
    for service in SERVICES:
        database = Database(platform.database_url(service))
        try:
            async with database.transaction() as connection:
                inbox = importlib.import_module(f"linli_{service}.adapters.tables").inbox
                await connection.execute(delete(inbox))
        finally:
            await database.dispose()
        _linli(platform, "consumers", "reset", service)
    for service in SERVICES:
        platform.workers[service].start()
    for service in SERVICES:
        platform.wait_worker_ready(service)

    async def replayed() -> bool:
        for service, read in READS.items():
            lag = await group_lag(kafka.bootstrap, kafka_namespace, f"linli-{service}", read)
            if lag:
                return False
        return True

    await eventually(replayed, "every group to re-consume every topic", within=180)
    _linli(platform, "credit", "rebuild")

    found: dict[str, str] = {}
    for service in SERVICES:
        for table, text in (await database_text(platform.database_url(service))).items():
            found[f"{service}.{table}"] = text
    every_topic = await namespace_texts(kafka.bootstrap, kafka_namespace)
    assert {kafka_namespace + t for t in (topics.REGISTRY, topics.INSPECTIONS)} <= set(every_topic)
    found.update({f"topic {topic}": text for topic, text in every_topic.items()})
    found["logs"] = platform.logs()

    assert where_found(found, personal(SPOUSE)) == []
    kept = await http.get(f"{registry}/v1/households/{household_id}", headers=STAFF)
    assert [m["name"] for m in kept.json()["members"]] == [HEAD["name"]]
    assert {f.split(" in ")[1] for f in where_found(found, [HEAD["name"]])} >= {
        "registry.members",
        "notify.recipients",
    }, "the head is still known, and still greeted by name after the replay"


async def _story(http: httpx.AsyncClient, platform: Platform) -> tuple[str, str]:
    registry, inspections = platform.url("registry"), platform.url("inspections")
    household, spouse_id = await register_family(
        http,
        registry,
        STAFF,
        community=("mingyue", "明月社区"),
        grid=("g-replay", "七网格"),
        head=HEAD,
        spouse=SPOUSE,
        address=ADDRESS,
        email=EMAIL,
        consent={"integrity_scoring": True},
    )
    household_id = household["id"]
    credit = platform.url("credit")

    async def opened() -> bool:
        response = await http.get(f"{credit}/v1/subjects/{household_id}/score", headers=OFFICER)
        return response.status_code == 200

    await eventually(opened, "the household's account in credit")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    awarded = await http.post(
        f"{credit}/v1/subjects/{household_id}/five-good-awards",
        json={"year": today.year, "criteria": dict.fromkeys(FIVE_GOOD_CRITERIA, True)},
        headers=OFFICER,
    )
    assert awarded.status_code == 201, awarded.text
    served = await http.post(
        f"{credit}/v1/subjects/{household_id}/volunteer-hours",
        json={
            "hours": 10,
            "served_on": today.isoformat(),
            "activity": "street patrol",
            "resident_id": spouse_id,
        },
        headers=STAFF,
    )
    assert served.status_code == 201, served.text
    checked = await http.get(f"{credit}/v1/subjects/{household_id}/green-channel", headers=HALL)
    assert checked.json()["granted"] is True, checked.text
    score = await http.get(f"{credit}/v1/subjects/{household_id}/score", headers=OFFICER)
    awarded_score = score.json()["score"]
    note = f"{SPOUSE['name']}（{SPOUSE['phone']}）在楼道堆放杂物"
    yesterday = datetime.now(UTC) - timedelta(days=1)
    await record_failed_inspection(http, inspections, INSPECTOR, household_id, note, yesterday)

    async def scored() -> bool:
        response = await http.get(
            f"{platform.url('credit')}/v1/subjects/{household_id}/score", headers=OFFICER
        )
        return response.status_code == 200 and response.json()["score"] < awarded_score

    await eventually(scored, "credit to lower the household's score")

    async def noticed() -> bool:
        response = await http.get(
            f"{platform.url('notify')}/v1/notices",
            params={"recipient_id": household_id},
            headers=STAFF,
        )
        notices = response.json()["items"] if response.status_code == 200 else []
        return any(n["status"] == "delivered" for n in notices)

    await eventually(noticed, "the rectification notice to be delivered")
    checked = await http.get(f"{credit}/v1/subjects/{household_id}/green-channel", headers=HALL)
    assert checked.json()["granted"] is False, "the green channel is lost with the grade"
    return household_id, spouse_id


def _linli(platform: Platform, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "linli", *args],
        env={**os.environ, **platform.env},
        capture_output=True,
        check=True,
    )
