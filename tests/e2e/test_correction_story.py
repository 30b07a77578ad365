"""Correction over the running services (real Kafka and PostgreSQL): once the registry corrects a
resident's name and phone and the household's contact (its versioned changes), every service's
copy has the corrected values, the next notice goes to the corrected address and greets the
corrected name, and the resident's export shows the corrected values in every service's records.

The old values stay only where the platform keeps what was, by design: the registry's history
of the household (the version before the correction) and the notice sent before it (what the
household was told, and where). Nowhere else in the export.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from linli_shared.auth import mint_dev_token
from linli_shared.masks import mask_phone
from linli_shared.settings import PlatformSettings
from tests.conftest import SharedPlatform, bearer
from tests.support.families import record_failed_inspection, register_family
from tests.support.platform import SERVICES
from tests.support.polling import eventually
from tests.support.residents import resident_id
from tests.support.scan import database_text, where_found
from tests.support.smtp import ReceivedMail

STAFF = bearer("community_staff", subject="staff-qian")
OLD_NAME, NEW_NAME = "上官文华", "上官文晔"
OLD_PHONE, NEW_PHONE = "13711115555", "13799996666"
HEAD = {"name": OLD_NAME, "id_number": resident_id("11010519680417"), "phone": OLD_PHONE}
SPOUSE = {"name": "诸葛慧敏", "id_number": resident_id("11010519720614"), "phone": "13822227777"}
ADDRESS = "安和路 9 弄 2 号 502 室"
YESTERDAY = datetime.now(UTC) - timedelta(days=1)
# Where a past value stays by design: what the household was, and what it was told.
PAST = {"household_history", "notice"}
# The same in the databases: the history, the notice and where it was delivered; and what is
# about processing, not the resident's records (docs/privacy.md, "Access and copy").
KEPT = {
    ("registry", "household_history"),
    ("notify", "notices"),
    ("notify", "deliveries"),
    *((service, table) for service in SERVICES for table in ("audit_log", "outbox", "inbox")),
}


async def test_an_export_after_a_correction_shows_the_corrected_values_everywhere(
    shared_platform: SharedPlatform, http: httpx.AsyncClient
) -> None:
    platform = shared_platform.platform
    registry, inspections = platform.url("registry"), platform.url("inspections")
    tag = uuid.uuid4().hex[:6]
    grid = f"g-correct-{tag}"
    old_email, new_email = f"sg.{tag}@example.cn", f"wenye.{tag}@example.cn"
    inspector = bearer("inspector", subject="inspector-he", grids=[grid])

    household, _ = await register_family(
        http,
        registry,
        STAFF,
        community=("anhe", "安和社区"),
        grid=(grid, "五网格"),
        head=HEAD,
        spouse=SPOUSE,
        address=ADDRESS,
        email=old_email,
    )
    household_id = household["id"]
    [head_id] = [m["resident_id"] for m in household["members"] if m["relation"] == "head"]
    [spouse_id] = [m["resident_id"] for m in household["members"] if m["relation"] == "spouse"]

    # Notify learns the household and tells it something, under the values as registered.
    await record_failed_inspection(
        http, inspections, inspector, household_id, "楼道堆放杂物", YESTERDAY
    )

    async def told_before() -> bool:
        return bool(shared_platform.smtp_sink.mails_to(old_email))

    await eventually(told_before, "the first notice to reach the household")

    # The correction: the head's name and phone (a members change), then the contact.
    url = f"{registry}/v1/households/{household_id}"
    version = (await http.get(url, headers=STAFF)).json()["version"]
    members = await http.put(
        f"{url}/members",
        headers=STAFF,
        json={
            "version": version,
            "members": [
                {**HEAD, "name": NEW_NAME, "phone": NEW_PHONE, "relation": "head"}
                | {"resident_id": head_id},
                {**SPOUSE, "relation": "spouse", "resident_id": spouse_id},
            ],
        },
    )
    assert members.status_code == 200, members.text
    contact = await http.put(
        f"{url}/contact",
        headers=STAFF,
        json={"version": members.json()["version"], "email": new_email, "phone": NEW_PHONE},
    )
    assert contact.status_code == 200, contact.text

    # Notify has it (the members change came first, on the same key): the head's own copy says so.
    me = {
        "Authorization": "Bearer "
        + mint_dev_token(PlatformSettings(), f"person-{tag}", ["resident"], resident_id=head_id)
    }

    async def notify_corrected() -> bool:
        copy = await http.get(
            f"{platform.url('notify')}/v1/residents/{head_id}/data-copy", headers=me
        )
        recipient = copy.json()["recipient"] if copy.status_code == 200 else {}
        return recipient.get("name") == NEW_NAME and recipient.get("email") == new_email

    await eventually(notify_corrected, "notify to apply the correction")

    # The next notice goes where the correction says, to the name it says.
    await record_failed_inspection(
        http, inspections, inspector, household_id, "门前乱堆放", YESTERDAY + timedelta(hours=2)
    )

    async def told_after() -> ReceivedMail | None:
        mails = shared_platform.smtp_sink.mails_to(new_email)
        return mails[0] if mails else None

    mail = await eventually(told_after, "a notice at the corrected address")
    assert NEW_NAME in mail.body and OLD_NAME not in mail.body

    started = await http.post(
        f"{registry}/v1/access-requests",
        json={"resident_id": head_id, "reason": "更正后本人申请查阅复制"},
        headers=STAFF,
    )
    assert started.status_code == 202, started.text
    request_url = f"{registry}/v1/access-requests/{started.json()['id']}"

    async def completed() -> bool:
        answer = (await http.get(request_url, headers=STAFF)).json()
        return bool(answer["status"] == "completed")

    await eventually(completed, "every service to answer the access request")
    export = await http.get(f"{request_url}/export", headers=STAFF)
    assert export.status_code == 200, export.text
    records: list[dict[str, Any]] = export.json()["records"]
    assert {r["service"] for r in records} == set(SERVICES)

    # Every record but the past ones holds the corrected values and none of the old.
    for record in records:
        text = json.dumps(record["what"], ensure_ascii=False)
        if record["category"] not in PAST:
            for old in (OLD_NAME, OLD_PHONE, old_email, mask_phone(OLD_PHONE)):
                assert old not in text, (old, record["service"], record["category"])
    [you] = _of(records, "registry", "member")
    assert (you["name"], you["phone"]) == (NEW_NAME, NEW_PHONE)
    [home] = _of(records, "registry", "household")
    assert new_email in json.dumps(home, ensure_ascii=False)
    [recipient] = _of(records, "notify", "recipient")
    assert (recipient["name"], recipient["email"]) == (NEW_NAME, new_email)
    assert recipient["phone"] == mask_phone(NEW_PHONE)
    notices = json.dumps(_of(records, "notify", "notice"), ensure_ascii=False)
    assert new_email in notices and NEW_NAME in notices, "the notice after the correction"
    # The history keeps the version before the correction, and the correction itself.
    history = [
        json.dumps(v, ensure_ascii=False) for v in _of(records, "registry", "household_history")
    ]
    assert any(OLD_NAME in version for version in history)
    assert NEW_NAME in history[-1] and OLD_NAME not in history[-1]

    # And no service keeps an old value in clear but where the past is kept by design.
    for service in SERVICES:
        tables = await database_text(platform.database_url(service))
        left = where_found(
            {name: text for name, text in tables.items() if (service, name) not in KEPT},
            [OLD_NAME, OLD_PHONE, old_email],
        )
        assert left == [], service

    page = await http.get(f"{request_url}/export.html", headers=STAFF)
    assert page.status_code == 200, page.text
    assert NEW_NAME in page.text and new_email in page.text


def _of(records: list[dict[str, Any]], service: str, category: str) -> list[Any]:
    return [r["what"] for r in records if r["service"] == service and r["category"] == category]
