"""Partners never receive personal data, checked over real processes after the whole story.

The story: a household with members (names, ID numbers, birth dates, phones), an e-mail and an
address; a compound with its property manager (name, phone, e-mail); a partner department's
webhook subscription; failed inspections of both (captured offline ten days ago, with notes that
quote names, a phone and an address); notify sends the notices; the deadlines pass (the test moves
them back: the cases' periods run from the notices' delivery, a few seconds ago); the scheduled
job marks the cases overdue and escalates them to the grid worker and the partner department;
credit lowers the scores; the compound is re-inspected and verified.

Then every topic in `PARTNER_TOPICS` is read from the beginning, and every webhook the partner
received is kept, and none may contain any name, ID number (or its tail), phone, e-mail or
address the story used. The inspections partner topic and the webhooks must have received the
story's events, so the scan cannot pass on nothing.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlalchemy import update

from linli_inspections.adapters.tables import rectifications
from linli_shared.contracts import topics
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope
from tests.conftest import SharedPlatform, bearer
from tests.support.events import read_topics
from tests.support.infra import KafkaService, free_port
from tests.support.polling import eventually
from tests.support.residents import resident_id
from tests.support.smtp import SmtpSink

ADMIN = bearer("admin")
STAFF = bearer("community_staff")
OFFICER = bearer("credit_officer")
INSPECTOR = bearer("inspector", subject="inspector-li", grids=["g-pii"])
TEN_DAYS_AGO = datetime.now(UTC) - timedelta(days=10)

HEAD = {"name": "欧阳建国", "id_number": resident_id("11010519700307"), "phone": "13912345678"}
SPOUSE = {"name": "司马秀英", "id_number": resident_id("11010519720815"), "phone": "13698765432"}
HOUSEHOLD_ADDRESS = "长寿路 88 弄 6 号 1201 室"
MANAGER_NAME = "宏达物业服务有限公司"
MANAGER_PHONE = "13571113179"
COMPOUND_ADDRESS = "长寿路 90 号"


class PartnerEndpoint:
    """A partner agency's webhook endpoint on 127.0.0.1 that keeps every body it receives."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                received.append(self.rfile.read(length))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/linli/hooks"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def types(self) -> list[str]:
        return [json.loads(body)["type"] for body in self.bodies]

    def __enter__(self) -> PartnerEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def partner() -> Iterator[PartnerEndpoint]:
    with PartnerEndpoint() as endpoint:
        yield endpoint


def personal_strings(household_email: str, manager_email: str) -> list[str]:
    found = [household_email, manager_email, MANAGER_NAME, MANAGER_PHONE, COMPOUND_ADDRESS]
    found += [HOUSEHOLD_ADDRESS, "长寿路"]
    for member in (HEAD, SPOUSE):
        id_number = member["id_number"]
        # The ID number, its masked tail (as shown to roles that may not read it) and its birth
        # date segment; the phone and its last digits as masked forms show them.
        found += [member["name"], id_number, id_number[-6:], id_number[6:14], member["phone"]]
        found += [member["phone"][-8:], member["phone"][:3] + "****" + member["phone"][-4:]]
    return found


async def test_nothing_a_partner_can_read_carries_personal_data(
    shared_platform: SharedPlatform,
    http: httpx.AsyncClient,
    kafka: KafkaService,
    partner: PartnerEndpoint,
) -> None:
    # Its scheduled job runs every second (SHARED_PLATFORM_ENV), so the overdue cases escalate
    # while the test waits.
    platform, kafka_namespace = shared_platform.platform, shared_platform.namespace
    smtp_sink = shared_platform.smtp_sink
    registry, inspections = platform.url("registry"), platform.url("inspections")
    household_email = f"ouyang.{uuid.uuid4().hex[:6]}@example.cn"
    manager_email = f"hongda.{uuid.uuid4().hex[:6]}@example.cn"

    subscribed = await http.post(
        f"{platform.url('notify')}/v1/webhooks",
        headers=ADMIN,
        json={
            "name": "城市管理局",
            "url": partner.url,
            "notice_types": ["rectification", "reinspection_result", "overdue_escalation"],
        },
    )
    assert subscribed.status_code == 201, subscribed.text

    for path, body in [
        ("communities", {"id": "changshou", "name": "长寿社区"}),
        (
            "grids",
            {"id": "g-pii", "community_id": "changshou", "name": "三网格", "worker_id": "w3"},
        ),
        (
            "compounds",
            {
                "id": "cp-changshou",
                "community_id": "changshou",
                "grid_id": "g-pii",
                "name": "长寿小区",
                "address": COMPOUND_ADDRESS,
            },
        ),
    ]:
        response = await http.post(f"{registry}/v1/{path}", json=body, headers=STAFF)
        assert response.status_code == 201, response.text
    manager = await http.post(
        f"{registry}/v1/organisations",
        headers=STAFF,
        json={
            "kind": "property_manager",
            "name": MANAGER_NAME,
            "community_id": "changshou",
            "grid_id": "g-pii",
            "compound_ids": ["cp-changshou"],
            "contact": {"email": manager_email, "phone": MANAGER_PHONE},
        },
    )
    assert manager.status_code == 201, manager.text
    household = await http.post(
        f"{registry}/v1/households",
        headers=STAFF,
        json={
            "community_id": "changshou",
            "grid_id": "g-pii",
            "compound_id": "cp-changshou",
            "address": HOUSEHOLD_ADDRESS,
            "members": [
                {**HEAD, "relation": "head", "birth_date": "1970-03-07"},
                {**SPOUSE, "relation": "spouse", "birth_date": "1972-08-15"},
            ],
            "contact_email": household_email,
            "contact_phone": HEAD["phone"],
        },
    )
    assert household.status_code == 201, household.text
    household_id = household.json()["id"]

    # Captured offline ten days ago (their periods still run from the notices' delivery).
    note = f"{HEAD['name']}（{HEAD['phone']}）家门口堆物，{HOUSEHOLD_ADDRESS}"
    batch = {
        "inspections": [
            {
                "id": str(uuid.uuid4()),
                "target": {"kind": "compound", "id": "cp-changshou"},
                "checklist": "sanitation",
                "inspected_at": TEN_DAYS_AGO.isoformat(),
                "findings": [
                    {"item": "no-exposed-garbage", "passed": False, "note": note},
                    {"item": "stairwells-clear", "passed": True},
                ],
            },
            {
                "id": str(uuid.uuid4()),
                "subject_id": household_id,
                "checklist": "sanitation",
                "inspected_at": TEN_DAYS_AGO.isoformat(),
                "findings": [
                    {"item": "stairwells-clear", "passed": False, "note": note},
                ],
            },
        ]
    }

    async def uploaded() -> bool:
        # Until inspections has the registry's events, the targets are unknown (422) or not
        # yet known to be in the inspector's grid (403); the client ids make resending safe.
        response = await http.post(
            f"{inspections}/v1/inspections/batch", json=batch, headers=INSPECTOR
        )
        body = response.json()
        return response.status_code == 200 and body["recorded"] + body["duplicates"] == 2

    await eventually(uploaded, "the offline batch to be recorded")
    await eventually(
        lambda: _both_told(http, inspections), "the notices' delivery to reach both cases"
    )
    await _deadlines_pass(platform.database_url("inspections"), "g-pii")

    async def escalated_to_department() -> list[dict[str, object]] | None:
        response = await http.get(
            f"{inspections}/v1/rectifications",
            params={"grid_id": "g-pii", "status": "overdue"},
            headers=STAFF,
        )
        cases: list[dict[str, object]] = response.json()["items"]
        done = len(cases) == 2 and all(c["escalation"] == "department" for c in cases)
        return cases if done else None

    cases = await eventually(escalated_to_department, "both cases escalated to the department")
    [compound_case] = [c for c in cases if c["target_kind"] == "compound"]
    reinspected = await http.post(
        f"{inspections}/v1/inspections",
        headers=INSPECTOR,
        json={
            "reinspection_of": compound_case["id"],
            "findings": [{"item": "no-exposed-garbage", "passed": True}],
        },
    )
    assert reinspected.status_code == 201, reinspected.text

    async def score_lowered() -> bool:
        response = await http.get(
            f"{platform.url('credit')}/v1/subjects/{household_id}/score", headers=OFFICER
        )
        return response.status_code == 200 and response.json()["score"] < 1000

    await eventually(score_lowered, "credit to lower the household's score")
    await eventually(lambda: _mailed(smtp_sink, household_email), "a notice to the household")

    wanted = {"notice.rectification", "notice.overdue_escalation", "notice.reinspection_result"}
    await eventually(lambda: _has(partner, wanted), "the partner's webhooks")

    async def partner_events() -> list[Envelope] | None:
        envelopes = await read_topics(kafka.bootstrap, kafka_namespace, list(topics.PARTNER_TOPICS))
        types = {e.type for e in envelopes}
        needed = {
            "linli.inspections.partner-inspection.completed.v1",
            "linli.inspections.partner-rectification.overdue.v1",
            "linli.inspections.partner-rectification.escalated.v1",
            "linli.inspections.partner-rectification.verified.v1",
        }
        return envelopes if needed <= types else None

    envelopes = await eventually(partner_events, "the story's events on the partner topic")

    # The notify and credit streams settle before the final read of every partner topic.
    envelopes = await read_topics(kafka.bootstrap, kafka_namespace, list(topics.PARTNER_TOPICS))
    readable = [e.to_json().decode() for e in envelopes] + [
        json.dumps(json.loads(body), ensure_ascii=False) for body in partner.bodies
    ]
    readable += [body.decode() for body in partner.bodies]
    assert len(envelopes) >= 6 and len(partner.bodies) >= 3
    for text in readable:
        for personal in personal_strings(household_email, manager_email):
            assert personal not in text, f"{personal!r} reached a partner: {text[:400]}"
    # The partner did hear about this story's cases: they name the compound and the grid.
    assert any("cp-changshou" in text and "g-pii" in text for text in readable)


async def _mailed(sink: SmtpSink, address: str) -> bool:
    return bool(sink.mails_to(address))


async def _has(partner: PartnerEndpoint, wanted: set[str]) -> bool:
    return wanted <= set(partner.types())


async def _both_told(http: httpx.AsyncClient, inspections: str) -> bool:
    response = await http.get(
        f"{inspections}/v1/rectifications", params={"grid_id": "g-pii"}, headers=STAFF
    )
    cases = response.json()["items"]
    return len(cases) == 2 and all(case["notified_at"] for case in cases)


async def _deadlines_pass(database_url: str, grid_id: str) -> None:
    """Time passes: the grid's cases are due four days ago (past the department's 72 hours).

    The platform runs on real time and a case's period runs from its notice's delivery, seconds
    ago; the test moves the deadlines back rather than wait for them."""
    database = Database(database_url)
    try:
        async with database.transaction() as connection:
            await connection.execute(
                update(rectifications)
                .where(rectifications.c.grid_id == grid_id)
                .values(comply_by=datetime.now(UTC) - timedelta(days=4))
            )
    finally:
        await database.dispose()
