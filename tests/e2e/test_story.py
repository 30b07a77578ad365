"""The loop the platform exists for, over real processes, Kafka, PostgreSQL and SMTP.

register a household → record a failed inspection → one ledger entry and one score change →
a rectification notice and a score notice by e-mail → the case records the rectification
notice's delivery (its comply-by clock), all one correlation id. Also, as residents
and staff live it: an inspection of a household the registry never had is refused; a new
household starts in the neutral grade without the green channel, and one offence keeps its
grade; the notice names the checklist item in the resident's words, and its Message-ID is the
notice's own.
"""

from __future__ import annotations

import uuid

import httpx

from linli_shared.contracts import topics
from linli_shared.messaging.envelope import Envelope
from tests.conftest import SharedPlatform, bearer
from tests.support.events import read_topics
from tests.support.infra import KafkaService
from tests.support.platform import Platform
from tests.support.polling import eventually
from tests.support.smtp import ReceivedMail, SmtpSink

STAFF = bearer("community_staff")
INSPECTOR = bearer("inspector", subject="inspector-wang", grids=["grid-03"])
OFFICER = bearer("credit_officer")


async def test_failed_inspection_becomes_one_entry_one_score_change_and_two_notices(
    shared_platform: SharedPlatform, http: httpx.AsyncClient, kafka: KafkaService
) -> None:
    platform, kafka_namespace = shared_platform.platform, shared_platform.namespace
    smtp_sink = shared_platform.smtp_sink
    # The migrations job runs on every deploy: on databases already at head it changes nothing.
    assert platform.migrate().count("migrated to head") == 4
    email = f"zhang.{uuid.uuid4().hex[:6]}@example.cn"
    # A household the registry never had cannot be inspected (no case, no account, no notice).
    ghost = str(uuid.uuid4())
    refused = await http.post(
        f"{platform.url('inspections')}/v1/inspections",
        headers=bearer("inspector"),
        json={
            "subject_id": ghost,
            "checklist": "sanitation",
            "findings": [{"item": "no-exposed-garbage", "passed": False}],
        },
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["errors"][0]["field"] == "subject_id"

    registered = await http.post(
        f"{platform.url('registry')}/v1/households",
        headers=STAFF,
        json={
            "community_id": "dongcheng-01",
            "grid_id": "grid-03",
            "address": "幸福路 12 号 3 栋 402",
            "members": [
                {"name": "张伟", "relation": "head"},
                {"name": "李娜", "relation": "spouse"},
            ],
            "contact_email": email,
        },
    )
    assert registered.status_code == 201, registered.text
    household_id = registered.json()["id"]

    correlation_id = f"story-{uuid.uuid4()}"
    inspection_id = str(uuid.uuid4())

    # Until inspections learns from the registry's event of the household, it refuses (422 on
    # subject_id; or 403, the inspector's token being for grid-03); the client id makes the
    # retry safe.
    async def record() -> httpx.Response | None:
        response = await http.post(
            f"{platform.url('inspections')}/v1/inspections",
            headers={**INSPECTOR, "X-Correlation-ID": correlation_id},
            json=failed_inspection,
        )
        not_yet = response.status_code == 403 or (
            response.status_code == 422 and response.json()["errors"][0]["field"] == "subject_id"
        )
        return None if not_yet else response

    failed_inspection = {
        "id": inspection_id,
        "subject_id": household_id,
        "subject_kind": "household",
        "checklist": "sanitation",
        "findings": [
            {
                "item": "stairwells-clear",
                "passed": False,
                "severity": "general",
                "note": "楼道堆放纸箱",
            },
            {"item": "no-exposed-garbage", "passed": True},
        ],
    }

    # Policy 2026.3: a new household opens in the neutral grade A, without the green channel.
    async def opened() -> dict[str, object] | None:
        response = await http.get(
            f"{platform.url('credit')}/v1/subjects/{household_id}/score", headers=OFFICER
        )
        return response.json() if response.status_code == 200 else None

    account = await eventually(opened, "credit to open the household's account")
    assert (account["score"], account["grade"]) == (1000, "A")
    green = await http.get(
        f"{platform.url('credit')}/v1/subjects/{household_id}/green-channel", headers=OFFICER
    )
    assert green.status_code == 200, green.text
    assert green.json()["granted"] is False

    recorded = await eventually(record, "inspections to know the household's grid")
    assert recorded.status_code == 201, recorded.text
    inspection = recorded.json()
    assert inspection["outcome"] == "failed"
    assert recorded.headers["X-Correlation-ID"] == correlation_id

    async def score_dropped() -> dict[str, object] | None:
        response = await http.get(
            f"{platform.url('credit')}/v1/subjects/{household_id}/score", headers=OFFICER
        )
        body: dict[str, object] = response.json()
        return body if response.status_code == 200 and body["score"] == 980 else None

    score = await eventually(score_dropped, "the score to drop by the policy's 20 points")
    assert score["grade"] == "A"

    mails = await eventually(
        lambda: _at_least(smtp_sink, email, 2), "two notices to arrive by SMTP"
    )
    by_subject = {mail.subject: mail for mail in mails}
    rectification = by_subject["【邻里】整改通知"]
    assert "幸福路 12 号 3 栋 402" in rectification.body
    # The checklist item in the resident's words, from the checklist version, not its code.
    assert "- 楼道无杂物（一般）：楼道堆放纸箱" in rectification.body
    assert "stairwells-clear" not in rectification.body
    assert "无暴露垃圾" not in rectification.body  # passed: not to rectify
    score_notice = by_subject["【邻里】诚信积分变动通知"]
    assert "1000 分变为 980 分" in score_notice.body
    assert "-20" in score_notice.body
    assert "原因：检查未通过" in score_notice.body

    # One general offence keeps grade A: no grade change, no grade notice.
    notices = await eventually(
        lambda: _delivered_notices(http, platform, household_id, 2), "both notices delivered"
    )
    assert {n["notice_type"] for n in notices} == {"rectification", "score_change"}
    # Every copy of a notice would carry the same Message-ID: the notice's own.
    [rectification_notice] = [n for n in notices if n["notice_type"] == "rectification"]
    assert rectification.message["Message-ID"] == (
        f"<{rectification_notice['id']}.email@linli.localhost>"
    )

    entries = await http.get(
        f"{platform.url('credit')}/v1/subjects/{household_id}/entries", headers=OFFICER
    )
    assert entries.status_code == 200
    [entry] = entries.json()["items"]
    assert entry["points"] == -20
    assert entry["reason_code"] == "inspection.failed"

    async def case_told() -> list[Envelope] | None:
        # The rectification notice's delivery reaches the case last (its comply-by clock).
        published = await read_topics(
            kafka.bootstrap,
            kafka_namespace,
            [topics.REGISTRY, topics.INSPECTIONS, topics.CREDIT, topics.NOTIFY],
        )
        told = any(
            e.correlation_id == correlation_id and e.type.endswith("rectification.notified.v1")
            for e in published
        )
        return published if told else None

    published = await eventually(case_told, "the case to record its notice's delivery")
    chain = [e for e in published if e.correlation_id == correlation_id]
    types = sorted(e.type for e in chain)
    assert types == sorted(
        [
            "linli.inspections.inspection.recorded.v1",
            "linli.inspections.inspection.failed.v1",
            "linli.inspections.rectification.requested.v1",
            "linli.credit.score.changed.v1",  # 1000 -> 980, grade A kept (policy 2026.3)
            "linli.notify.notice.delivered.v1",
            "linli.notify.notice.delivered.v1",
            "linli.inspections.rectification.notified.v1",
        ]
    ), types
    assert all(e.subject == household_id for e in chain)
    # Of every subject this story touched (other tests' subjects share the platform's topics).
    score_changes = [
        e
        for e in published
        if e.type == "linli.credit.score.changed.v1" and e.subject in (household_id, ghost)
    ]
    assert len(score_changes) == 1
    failed = next(e for e in chain if e.type.endswith("inspection.failed.v1"))
    assert score_changes[0].causation_id == failed.id
    assert all(e.traceparent for e in chain), "trace context travels with every event"


async def _at_least(sink: SmtpSink, address: str, count: int) -> list[ReceivedMail] | None:
    mails = sink.mails_to(address)
    return mails if len(mails) >= count else None


async def _delivered_notices(
    http: httpx.AsyncClient, platform: Platform, recipient_id: str, count: int
) -> list[dict[str, object]] | None:
    response = await http.get(
        f"{platform.url('notify')}/v1/notices",
        params={"recipient_id": recipient_id},
        headers=bearer("community_staff"),
    )
    items: list[dict[str, object]] = response.json()["items"]
    delivered = [n for n in items if n["status"] == "delivered"]
    return delivered if len(delivered) >= count else None
