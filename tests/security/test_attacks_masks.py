"""Attacks on masks, searches and event payloads, played against the running platform (issue 15).

Each test runs the services as processes on PostgreSQL and Kafka and plays one attack:

- a reader without the reveal right tries to recover a resident's ID number from what it may
  read and search (the mask, the birth date, the tail search, the whole-number search);
- the same grid worker registers a household with another grid's resident's ID number or
  address, to learn which household of the other grid has it, and why;
- anyone who reads the registry's topic (or its outbox rows) looks for the phone numbers,
  e-mail addresses and ID numbers of the households registered.

docs/security.md ("Masks and searches", "Contacts in events") says what each may learn.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import product
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from linli_notify.adapters.tables import recipients
from linli_registry.adapters.tables import outbox
from linli_registry.domain.personal import id_check_digit
from linli_shared.contracts import topics
from linli_shared.db import Database
from tests.conftest import bearer
from tests.support.events import read_topics
from tests.support.infra import KafkaService, free_port
from tests.support.masks import without_ids_and_times
from tests.support.platform import Platform
from tests.support.polling import eventually
from tests.support.smtp import SmtpSink

STAFF = bearer("community_staff", subject="staff-1")
ADMIN = bearer("admin")
INSPECTOR = bearer("inspector", subject="inspector-1", grids=["g-01"])
ATTACKER = "worker-1"
WORKER = bearer("grid_worker", subject=ATTACKER, grids=["g-01"])

REGION_AND_BIRTH = "11010519491231"  # Dongcheng, Beijing; born 31 December 1949
SEQUENCE = "017"  # found early by the tail attack, so it fails fast on masks that leak
ID_NUMBER = REGION_AND_BIRTH + SEQUENCE + id_check_digit(REGION_AND_BIRTH + SEQUENCE)
OTHER_ID_NUMBER = "11010519520501033" + id_check_digit("11010519520501033")
# What the attacker may try before it counts as having failed; against the 14-character mask
# the tail attack needs at most 1,000 searches, here 18.
BUDGET = 300
DIGITS = "0123456789"


def valid(first17: str) -> str:
    return first17 + id_check_digit(first17)


async def _setup(http: httpx.AsyncClient, registry: str) -> None:
    for path, body in [
        ("communities", {"id": "xingfu", "name": "幸福社区"}),
        ("grids", {"id": "g-01", "community_id": "xingfu", "name": "一网格"}),
        ("grids", {"id": "g-02", "community_id": "xingfu", "name": "二网格"}),
    ]:
        response = await http.post(f"{registry}/v1/{path}", json=body, headers=STAFF)
        assert response.status_code == 201, response.text


async def _household(
    http: httpx.AsyncClient, registry: str, grid_id: str, address: str, **extra: Any
) -> dict[str, Any]:
    body = {
        "community_id": "xingfu",
        "grid_id": grid_id,
        "address": address,
        "members": [{"name": "王建国", "relation": "head", "id_number": ID_NUMBER}],
        "contact_email": f"wang.{uuid.uuid4().hex[:6]}@example.cn",
        **extra,
    }
    response = await http.post(f"{registry}/v1/households", json=body, headers=STAFF)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _candidates(mask: str, birth_date: str | None) -> Iterator[str]:
    """Every valid ID number consistent with what the attacker sees: the characters the mask
    shows, the birth date if shown, the check digit. Sequence numbers vary fastest, then birth
    dates (1900 on), then regions."""
    known = list(mask)
    if birth_date:
        known[6:14] = list(birth_date.replace("-", ""))

    def choices(start: int, end: int) -> Iterator[str]:
        return ("".join(c) for c in product(*[d if d != "*" else DIGITS for d in known[start:end]]))

    def fits(text: str, start: int) -> bool:
        return all(known[start + i] in ("*", c) for i, c in enumerate(text))

    for region in choices(0, 6):
        day = date(1900, 1, 1)
        while day <= date(2025, 12, 31):
            born = day.strftime("%Y%m%d")
            day += timedelta(days=1)
            if not fits(born, 6):
                continue
            for sequence in choices(14, 17):
                candidate = valid(region + born + sequence)
                if known[17] in ("*", candidate[17]):
                    yield candidate


async def _attack(http: httpx.AsyncClient, registry: str, household_id: str) -> str | None:
    """The attack of the issue: read the masked number, then search until one candidate is left.
    Returns the ID number recovered, or None when the budget runs out or searching is refused."""
    read = await http.get(f"{registry}/v1/households/{household_id}", headers=WORKER)
    assert read.status_code == 200, read.text
    member = read.json()["members"][0]
    spent = 0
    tried_tails: set[str] = set()
    for candidate in _candidates(member["id_number"], member.get("birth_date")):
        if spent >= BUDGET:
            return None
        tail = candidate[-4:]
        if tail in tried_tails:
            continue
        tried_tails.add(tail)
        spent += 1
        found = await http.get(
            f"{registry}/v1/households", params={"id_tail": tail}, headers=WORKER
        )
        if found.status_code == 403:
            break  # the tail search is not for this role: try the whole number instead
        assert found.status_code == 200, found.text
        if household_id in [h["id"] for h in found.json()["items"]]:
            return candidate
    for candidate in _candidates(member["id_number"], member.get("birth_date")):
        if spent >= BUDGET:
            return None
        spent += 1
        found = await http.get(
            f"{registry}/v1/households", params={"id_number": candidate}, headers=WORKER
        )
        assert found.status_code == 200, found.text
        if household_id in [h["id"] for h in found.json()["items"]]:
            return candidate
    return None


async def test_a_grid_worker_learns_no_more_than_the_mask_shows_by_searching_or_registering(
    platform: Platform, http: httpx.AsyncClient
) -> None:
    registry = platform.url("registry")
    await _setup(http, registry)
    mine = await _household(http, registry, "g-01", "幸福路 8 号")
    theirs = await _household(
        http,
        registry,
        "g-02",
        "幸福路 2 号",
        members=[{"name": "王芳", "relation": "head", "id_number": OTHER_ID_NUMBER}],
    )

    # 1. Read the mask of a resident of its own grid, then search until one candidate is left.
    recovered = await _attack(http, registry, mine["id"])

    assert recovered is None, "a grid worker recovered the ID number by searching"
    shown = await http.get(f"{registry}/v1/households/{mine['id']}", headers=WORKER)
    assert shown.json()["members"][0]["id_number"] == ID_NUMBER[0] + "*" * 16 + ID_NUMBER[-1]
    said = without_ids_and_times(shown.text)
    for hidden in (REGION_AND_BIRTH[1:], "1949-12-31", SEQUENCE):
        assert hidden not in said
    # Every search by an ID number is in the trail, under the attacker's name.
    trail = await http.get(
        f"{registry}/v1/audit",
        params={"actor": ATTACKER, "action": "personal-data-read", "limit": 200},
        headers=ADMIN,
    )
    assert trail.status_code == 200, trail.text
    assert trail.json()["items"], "the attacker's searches left no trace"

    # 2. Register a household with another grid's resident's ID number, or its address, to learn
    # which household of the other grid has it, and why.
    for address, id_number in [("幸福路 9 号", OTHER_ID_NUMBER), ("幸福路 2 号", None)]:
        member: dict[str, Any] = {"name": "李雷", "relation": "head"}
        if id_number:
            member["id_number"] = id_number
        answer = await http.post(
            f"{registry}/v1/households",
            headers=WORKER,
            json={
                "community_id": "xingfu",
                "grid_id": "g-01",
                "address": address,
                "members": [member],
                "contact_email": "li@example.cn",
            },
        )

        assert answer.status_code == 409, answer.text
        problem = answer.json()
        assert problem["candidates"] == [] and problem["outside_your_grids"] is True
        assert "community staff" in problem["detail"]
        text = answer.text.replace("allow_duplicate", "")
        for secret in (theirs["id"], "g-02", "id_number", "address"):
            assert secret not in text, f"the answer names {secret!r}: {text}"


class SmsGateway:
    """The city's SMS gateway at the edge: keeps every message it is asked to send."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        received = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"code": "OK"}')

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/sms/send"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def sent_to(self, phone: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("to") == phone]


@pytest.fixture
def sms_gateway() -> Iterator[SmsGateway]:
    gateway = SmsGateway()
    gateway._thread.start()
    yield gateway
    gateway.server.shutdown()
    gateway.server.server_close()


@pytest.fixture
def platform_env(platform_env: dict[str, str], sms_gateway: SmsGateway) -> dict[str, str]:
    return {**platform_env, "LINLI_NOTIFY_SMS_GATEWAY_URL": sms_gateway.url}


async def test_the_registry_topic_and_outbox_hold_no_contact_or_id_number_in_clear(
    platform: Platform,
    http: httpx.AsyncClient,
    kafka: KafkaService,
    kafka_namespace: str,
    smtp_sink: SmtpSink,
    sms_gateway: SmsGateway,
) -> None:
    registry = platform.url("registry")
    await _setup(http, registry)
    by_sms_phone, by_sms_email = "13912345678", f"sms.{uuid.uuid4().hex[:6]}@example.cn"
    by_mail_email = f"mail.{uuid.uuid4().hex[:6]}@example.cn"
    member_phone = "13698765432"
    texted = await _household(
        http,
        registry,
        "g-01",
        "幸福路 8 号",
        members=[
            {"name": "王建国", "relation": "head", "id_number": ID_NUMBER, "phone": member_phone}
        ],
        contact_email=by_sms_email,
        contact_phone=by_sms_phone,
        preferred_channels=["sms", "email"],
        consent={"integrity_scoring": True, "notice_channels": ["sms", "email"]},
    )
    mailed = await _household(
        http,
        registry,
        "g-01",
        "幸福路 9 号",
        members=[{"name": "李雷", "relation": "head"}],
        contact_email=by_mail_email,
    )
    manager = await http.post(
        f"{registry}/v1/organisations",
        headers=STAFF,
        json={
            "kind": "shop",
            "name": "便民超市",
            "community_id": "xingfu",
            "grid_id": "g-01",
            "contact": {"email": "shop@example.cn", "phone": "13571113179"},
        },
    )
    assert manager.status_code == 201, manager.text
    changed = await http.put(
        f"{registry}/v1/households/{mailed['id']}/contact",
        headers=STAFF,
        json={"version": 1, "email": by_mail_email, "phone": "13300001111"},
    )
    assert changed.status_code == 200, changed.text

    # A failed inspection of each household: notify must still reach each at its real contact.
    for household in (texted, mailed):

        async def recorded(subject: str = household["id"], id: str = str(uuid.uuid4())) -> bool:
            response = await http.post(
                f"{platform.url('inspections')}/v1/inspections",
                headers=INSPECTOR,
                json={
                    "id": id,
                    "subject_id": subject,
                    "checklist": "sanitation",
                    "findings": [{"item": "stairwells-clear", "passed": False}],
                },
            )
            return response.status_code == 201

        await eventually(recorded, "inspections to know the household")

    await eventually(lambda: _texted(sms_gateway, by_sms_phone), "an SMS to the contact phone")
    await eventually(lambda: _mailed(smtp_sink, by_mail_email), "a mail to the contact address")

    secrets = [
        by_sms_phone,
        by_sms_email,
        by_mail_email,
        member_phone,
        "13300001111",
        "13571113179",
        "shop@example.cn",
        ID_NUMBER,
        ID_NUMBER[6:14] + SEQUENCE,
    ]
    envelopes = await read_topics(kafka.bootstrap, kafka_namespace, [topics.REGISTRY])
    assert {e.subject for e in envelopes} >= {texted["id"], mailed["id"]}
    database = Database(platform.database_url("registry"))
    try:
        async with database.connect() as connection:
            rows = (await connection.execute(select(outbox.c.payload))).all()
    finally:
        await database.dispose()
    assert len(rows) >= 5
    for text in [e.to_json().decode() for e in envelopes] + [str(r.payload) for r in rows]:
        for secret in secrets:
            assert secret not in text, f"{secret!r} in clear in {text[:300]}"

    # Notify opened the seals: its recipients hold the real contacts.
    async def opened() -> bool:
        database = Database(platform.database_url("notify"))
        try:
            async with database.connect() as connection:
                rows = await connection.execute(
                    select(recipients.c.id, recipients.c.email, recipients.c.phone)
                )
                held = {str(r.id): (r.email, r.phone) for r in rows}
        finally:
            await database.dispose()
        return held.get(texted["id"]) == (by_sms_email, by_sms_phone) and held.get(
            mailed["id"]
        ) == (by_mail_email, "13300001111")

    await eventually(opened, "notify to hold the real contacts")


async def _texted(gateway: SmsGateway, phone: str) -> bool:
    return bool(gateway.sent_to(phone))


async def _mailed(sink: SmtpSink, address: str) -> bool:
    return bool(sink.mails_to(address))
