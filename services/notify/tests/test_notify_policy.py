"""Delivery policy without I/O: channels and fallback, quiet hours, digests, webhook retries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2.exceptions import SecurityError

from linli_notify.adapters.sms import fill
from linli_notify.adapters.templates import TemplateRenderer
from linli_notify.adapters.webhooks import new_secret, signature_header
from linli_notify.domain.notice import (
    DEFAULT_WEBHOOK_SCHEDULE,
    Channel,
    Notice,
    NoticeType,
    QuietHours,
    Recipient,
    RecipientKind,
    after_failure,
    grid_worker_id,
    is_critical,
    new_notice,
    next_digest_time,
    normalise_locale,
    not_before,
    should_disable,
    webhook_retry_at,
)
from linli_shared.rules import RuleViolation
from services.notify.tests.notify_peers import recompute_signature

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
NIGHT = QuietHours(time(22, 0), time(7, 0))


def person(**changes: Any) -> Recipient:
    base: dict[str, Any] = {
        "id": uuid.UUID(int=1),
        "name": "张三",
        "email": "zhang@example.com",
        "phone": "13800138000",
        "preferred_channels": (Channel.SMS, Channel.EMAIL),
    }
    return Recipient(**{**base, **changes})


def notice(notice_type: NoticeType = NoticeType.SCORE_CHANGE, **variables: object) -> Notice:
    return new_notice(
        recipient_id=uuid.UUID(int=1),
        notice_type=notice_type,
        source_event_id="evt",
        correlation_id="corr",
        traceparent=None,
        variables=dict(variables),
        now=NOW,
    )


# --- channels -------------------------------------------------------------------------------------


def test_channels_follow_the_preferred_order() -> None:
    assert person().channels() == [Channel.SMS, Channel.EMAIL]


def test_the_recipients_own_order_wins_over_the_registrys() -> None:
    assert person(channel_order=(Channel.EMAIL, Channel.SMS)).channels() == [
        Channel.EMAIL,
        Channel.SMS,
    ]


def test_channels_without_consent_or_address_are_skipped() -> None:
    assert person(consented_channels=(Channel.EMAIL,)).channels() == [Channel.EMAIL]
    assert person(phone=None).channels() == [Channel.EMAIL]


def test_with_nothing_usable_a_resident_still_has_the_inbox() -> None:
    assert person(email=None, phone=None).channels() == [Channel.INBOX]
    assert person(consented_channels=()).channels() == [Channel.INBOX]


def test_a_grid_worker_without_contacts_has_no_channel() -> None:
    worker = person(email=None, phone=None, kind=RecipientKind.GRID_WORKER)
    assert worker.channels() == []


def test_grid_worker_ids_are_stable_per_grid() -> None:
    assert grid_worker_id("g-07") == grid_worker_id("g-07") != grid_worker_id("g-08")


@pytest.mark.parametrize(
    ("given_locale", "expected"),
    [
        ("en", "en"),
        ("en-US", "en"),
        ("en_GB", "en"),
        ("zh-CN", "zh-CN"),
        ("zh", "zh-CN"),
        ("fr", "zh-CN"),
        (None, "zh-CN"),
    ],
)
def test_locales_normalise_to_those_with_templates(given_locale: str | None, expected: str) -> None:
    assert normalise_locale(given_locale) == expected


# --- fallback and rounds --------------------------------------------------------------------------


def test_a_failed_channel_falls_back_to_the_next_at_once() -> None:
    step = after_failure(channel_index=0, channels=2, rounds=0, max_rounds=3, now=NOW)
    assert (step.give_up, step.channel_index, step.rounds, step.next_attempt_at) == (
        False,
        1,
        0,
        NOW,
    )


def test_when_the_last_channel_fails_a_new_round_starts_later() -> None:
    step = after_failure(channel_index=1, channels=2, rounds=0, max_rounds=3, now=NOW)
    assert (step.give_up, step.channel_index, step.rounds) == (False, 0, 1)
    assert step.next_attempt_at == NOW + timedelta(seconds=5)


def test_after_the_last_round_it_gives_up() -> None:
    step = after_failure(channel_index=1, channels=2, rounds=2, max_rounds=3, now=NOW)
    assert step.give_up is True


# --- criticality, quiet hours, digests ------------------------------------------------------------


def test_escalations_and_serious_findings_are_critical() -> None:
    assert is_critical(NoticeType.OVERDUE_ESCALATION, {})
    assert is_critical(NoticeType.RECTIFICATION, {"severity": "serious"})
    assert not is_critical(NoticeType.RECTIFICATION, {"severity": "general"})
    assert not is_critical(NoticeType.SCORE_CHANGE, {})


def test_quiet_hours_may_span_midnight() -> None:
    assert NIGHT.contains(time(23, 0)) and NIGHT.contains(time(2, 0))
    assert not NIGHT.contains(time(7, 0)) and not NIGHT.contains(time(21, 59))
    lunch = QuietHours(time(12, 0), time(14, 0))
    assert lunch.contains(time(13, 0)) and not lunch.contains(time(14, 0))


def test_empty_quiet_hours_are_a_rule_violation() -> None:
    with pytest.raises(RuleViolation) as raised:
        QuietHours(time(22, 0), time(22, 0))
    assert raised.value.field == "quiet_hours"


def local(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def test_quiet_hours_end_the_next_morning_local_time() -> None:
    assert NIGHT.ends_after(local(23, 30), SHANGHAI) == local(7, 0, day=3)
    assert NIGHT.ends_after(local(3, 0), SHANGHAI) == local(7, 0)
    assert NIGHT.ends_after(local(10, 0), SHANGHAI) == local(10, 0)


@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1)))
def test_quiet_hours_always_end_outside_the_window_and_not_before_now(naive: datetime) -> None:
    now = naive.replace(tzinfo=UTC)
    end = NIGHT.ends_after(now, SHANGHAI)
    assert end >= now
    assert not NIGHT.contains(end.astimezone(SHANGHAI).time())
    assert end - now <= timedelta(hours=9)


def test_the_next_digest_is_the_next_local_digest_time() -> None:
    assert next_digest_time(local(7, 59), SHANGHAI, time(8, 0)) == local(8, 0)
    assert next_digest_time(local(8, 0), SHANGHAI, time(8, 0)) == local(8, 0, day=3)
    assert next_digest_time(local(23, 0), SHANGHAI, time(8, 0)) == local(8, 0, day=3)


def test_not_before_orders_critical_then_digest_then_quiet_hours() -> None:
    ordinary = notice()
    urgent = notice(NoticeType.OVERDUE_ESCALATION)
    night, digest_time = local(23, 0), time(8, 0)
    quiet = person(quiet_hours=NIGHT)
    on_digest = person(digest=True, quiet_hours=NIGHT)
    assert not_before(urgent, on_digest, night, SHANGHAI, digest_time) == night
    assert not_before(ordinary, quiet, night, SHANGHAI, digest_time) == local(7, 0, day=3)
    assert not_before(ordinary, on_digest, night, SHANGHAI, digest_time) == local(8, 0, day=3)
    assert not_before(ordinary, person(), night, SHANGHAI, digest_time) == night


# --- partner webhooks -----------------------------------------------------------------------------


def test_webhook_retries_follow_the_standard_schedule_then_stop() -> None:
    waits = [webhook_retry_at(n, NOW, DEFAULT_WEBHOOK_SCHEDULE) for n in range(1, 9)]
    assert [w - NOW for w in waits[:7] if w is not None] == [
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
    ]
    assert waits[7] is None


def test_an_endpoint_is_disabled_at_the_threshold() -> None:
    assert not should_disable(19, 20)
    assert should_disable(20, 20)


def test_signatures_match_the_spec_and_sign_with_every_secret() -> None:
    first, second = new_secret(), new_secret()
    at = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    header = signature_header((first, second), "msg_1", at, '{"a":1}')
    timestamp = str(int(at.timestamp()))
    assert header.split(" ") == [
        recompute_signature(first, "msg_1", timestamp, b'{"a":1}'),
        recompute_signature(second, "msg_1", timestamp, b'{"a":1}'),
    ]


# --- SMS payload mapping --------------------------------------------------------------------------


def test_the_sms_payload_template_fills_only_its_placeholders() -> None:
    template = {
        "mobile": "{to}",
        "content": "{text}",
        "params": ["{notice_id}", 7],
        "literal": "{keep} {to}",
    }
    filled = fill(template, {"to": "138", "text": "您好 {x}", "notice_id": "n-1"})
    assert filled == {
        "mobile": "138",
        "content": "您好 {x}",
        "params": ["n-1", 7],
        "literal": "{keep} 138",
    }


# --- templates: a city's own wording, in the sandbox --------------------------------------------


def test_a_citys_template_wins_and_the_rest_stay_built_in(tmp_path: Path) -> None:
    (tmp_path / "score_change.zh-CN.j2").write_text(
        "{% block subject %}【东城区】积分变动{% endblock %}"
        "{% block body %}{{ salutation }}：{{ score_before }}→{{ score_after }}{% endblock %}"
        "{% block sms %}积分 {{ score_after }}{% endblock %}",
        encoding="utf-8",
    )
    renderer = TemplateRenderer("Asia/Shanghai", tmp_path)
    variables: dict[str, object] = {"score_before": 1000, "score_after": 980}
    rendered = renderer.render(NoticeType.SCORE_CHANGE, person(address="幸福路 1 号"), variables)
    assert rendered.subject == "【东城区】积分变动"
    assert rendered.body == "张三（幸福路 1 号）：1000→980\n"
    assert rendered.sms == "积分 980"
    green = renderer.render(NoticeType.GREEN_CHANNEL_LOST, person(), {"grade": "B"})
    assert green.subject == "【邻里】绿色通道取消通知"


def test_templates_run_in_a_sandbox(tmp_path: Path) -> None:
    (tmp_path / "grade_change.zh-CN.j2").write_text(
        "{% block subject %}{{ recipient.__class__.__mro__ }}{% endblock %}"
        "{% block body %}x{% endblock %}{% block sms %}x{% endblock %}",
        encoding="utf-8",
    )
    renderer = TemplateRenderer("Asia/Shanghai", tmp_path)
    with pytest.raises(SecurityError):
        renderer.render(NoticeType.GRADE_CHANGE, person(), {})
