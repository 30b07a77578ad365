"""Access and copy over the running services (real Kafka and PostgreSQL): a resident's export
lists what every service holds about her, and what the scan of the databases finds of her.

The story: a household with two members (names, ID numbers, phones); a failed inspection whose
note names the spouse; notify delivers the notice; credit lowers the score. Community staff ask
for the spouse's data by her ID number; once every service has answered, the JSON export lists
records from each of them (her member record, the inspection with the note, the notice), the
zh-CN page shows them, every service where the scan of the databases finds her contributed to
the export and every value it finds is in it; each read of the export is in the audit trail;
and once she is erased, the request keeps none of her records.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import SharedPlatform, bearer
from tests.support.families import record_failed_inspection, register_family
from tests.support.platform import SERVICES, Platform
from tests.support.polling import eventually
from tests.support.residents import resident_id
from tests.support.scan import database_text

STAFF = bearer("community_staff", subject="staff-zhou")
ADMIN = bearer("admin")
OFFICER = bearer("credit_officer")
HEAD = {"name": "欧阳建国", "id_number": resident_id("11010519650302"), "phone": "13511112222"}
SPOUSE = {"name": "司马静怡", "id_number": resident_id("11010519700815"), "phone": "13633334444"}
ADDRESS = "清和路 21 弄 5 号 301 室"
YESTERDAY = datetime.now(UTC) - timedelta(days=1)
# What the audit trail, the outbox and the inbox hold is about processing, not the resident's
# records: the export does not list them (docs/privacy.md, "Access and copy").
NOT_RECORDS = {"audit_log", "outbox", "inbox", "alembic_version"}


async def test_a_residents_export_lists_what_every_service_holds_about_her(
    shared_platform: SharedPlatform, http: httpx.AsyncClient
) -> None:
    platform = shared_platform.platform
    registry, inspections = platform.url("registry"), platform.url("inspections")
    grid, email = f"g-access-{uuid.uuid4().hex[:6]}", f"ouyang.{uuid.uuid4().hex[:6]}@example.cn"
    inspector = bearer("inspector", subject="inspector-lu", grids=[grid])

    household, spouse_id = await register_family(
        http,
        registry,
        STAFF,
        community=("qinghe", "清和社区"),
        grid=(grid, "三网格"),
        head=HEAD,
        spouse=SPOUSE,
        address=ADDRESS,
        email=email,
    )
    household_id = household["id"]

    note = f"{SPOUSE['name']}在楼道堆放纸箱"
    await record_failed_inspection(http, inspections, inspector, household_id, note, YESTERDAY)

    async def told() -> bool:
        # The score's notice may come first: the rectification notice carries the note.
        return any(note in mail.body for mail in shared_platform.smtp_sink.mails_to(email))

    await eventually(told, "the rectification notice, with the note, to reach the household")

    async def scored() -> bool:
        response = await http.get(
            f"{platform.url('credit')}/v1/subjects/{household_id}/score", headers=OFFICER
        )
        return response.status_code == 200 and response.json()["score"] < 1000

    await eventually(scored, "credit to lower the household's score")

    started = await http.post(
        f"{registry}/v1/access-requests",
        json={
            "id_number": SPOUSE["id_number"],
            "reason": "本人申请查阅复制（个人信息保护法第四十五条）",
        },
        headers=STAFF,
    )
    assert started.status_code == 202, started.text
    assert started.json()["resident_id"] == spouse_id
    url = f"{registry}/v1/access-requests/{started.json()['id']}"

    async def completed() -> dict[str, Any] | None:
        answer: dict[str, Any] = (await http.get(url, headers=STAFF)).json()
        return answer if answer["status"] == "completed" else None

    request = await eventually(completed, "every service to answer the access request")
    assert set(request["answered"]) == set(SERVICES)

    export = await http.get(f"{url}/export", headers=STAFF)
    assert export.status_code == 200, export.text
    records: list[dict[str, Any]] = export.json()["records"]
    by_service: dict[str, str] = {}
    for record in records:
        assert record["purpose"] and record["retention"], record
        text = json.dumps(record["what"], ensure_ascii=False)
        by_service[record["service"]] = by_service.get(record["service"], "") + text
    assert {"registry", "inspections", "notify"} <= set(by_service)
    [member] = [r for r in records if r["category"] == "member"]
    assert member["what"]["id_number"] == SPOUSE["id_number"]
    assert member["what"]["phone"] == SPOUSE["phone"]
    assert note in by_service["inspections"]
    assert SPOUSE["name"] in by_service["notify"]  # the notice quoted the note

    # What the scan of each service's database finds of her, the export lists; and a service
    # the scan finds nothing of her in contributed nothing.
    scanned = await _scan(platform)
    needles = (SPOUSE["name"], SPOUSE["id_number"], SPOUSE["phone"], spouse_id)
    for service, tables in scanned.items():
        found = {
            needle: [t for t, text in tables.items() if t not in NOT_RECORDS and needle in text]
            for needle in needles
        }
        for needle, where in found.items():
            if where:
                assert needle in by_service.get(service, ""), (needle, service, where)
        assert any(found.values()) or service not in by_service, service

    page = await http.get(f"{url}/export.html", headers=ADMIN)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for shown in ("个人信息查阅与复制", "住户成员记录", "检查", "通知", SPOUSE["name"], note):
        assert shown in page.text, shown

    async def trail(action: str) -> set[tuple[str, str]]:
        answer = await http.get(
            f"{registry}/v1/audit", params={"action": action, "limit": 200}, headers=ADMIN
        )
        assert answer.status_code == 200, answer.text
        return {(e["actor"], e["path"]) for e in answer.json()["items"]}

    path = f"/v1/access-requests/{started.json()['id']}"
    assert ("staff-zhou", "/v1/access-requests") in await trail("write")
    assert ("staff-zhou", f"{path}/export") in await trail("personal-data-read")

    # Once she is erased, the request keeps who asked and how many records came, not them.
    erased = await http.post(
        f"{registry}/v1/households/{household_id}/erasures",
        json={"resident_id": spouse_id, "reason": "本人申请删除（个保法第四十七条）"},
        headers=STAFF,
    )
    assert erased.status_code == 202, erased.text
    assert erased.json()["removed"]["registry"]["access_request_copies"] == len(SERVICES)
    after = (await http.get(f"{url}/export", headers=STAFF)).json()
    assert after["records"] == [] and sorted(after["erased"]) == sorted(SERVICES)
    assert after["request"]["answered"] == request["answered"]


async def _scan(platform: Platform) -> dict[str, dict[str, str]]:
    return {service: await database_text(platform.database_url(service)) for service in SERVICES}
