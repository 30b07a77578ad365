"""Notices, retry policy and the Chinese templates, without I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.exceptions import UndefinedError

from linli_notify.adapters.templates import TemplateRenderer
from linli_notify.domain.notice import (
    NoticeStatus,
    NoticeType,
    Recipient,
    new_notice,
    retry_delay,
    should_give_up,
)

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
RECIPIENT = Recipient(
    id=uuid.UUID("00000000-0000-4000-8000-0000000000a1"),
    name="张三",
    email="zhang@example.com",
    address="幸福路 1 号 2 栋 301",
)

# 17:30 UTC on 1 March is already 2 March in Shanghai (UTC+8).
RECTIFICATION: dict[str, object] = {
    "inspection_id": "7b0c6f8e-0000-4000-8000-000000000001",
    "checklist": "sanitation",
    "inspected_at": "2026-03-01T17:30:00+00:00",
    "comply_by": "2026-03-04T17:30:00+00:00",
    "findings": [
        {"item": "stairwells clear", "severity": "general", "note": "楼道堆物"},
        {"item": "no small ads", "severity": "light", "note": None},
    ],
}
SCORE_CHANGE: dict[str, object] = {
    "score_before": 1000,
    "score_after": 980,
    "points": -20,
    "grade_before": "AA",
    "grade_after": "A",
    "reason_code": "inspection.failed",
}


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer("Asia/Shanghai")


def test_a_new_notice_is_pending_without_attempts() -> None:
    notice = new_notice(
        recipient_id=RECIPIENT.id,
        notice_type=NoticeType.RECTIFICATION,
        source_event_id="evt-1",
        correlation_id="corr-1",
        traceparent=None,
        variables={"a": 1},
        now=NOW,
    )
    assert notice.status is NoticeStatus.PENDING
    assert notice.attempts == 0
    assert notice.created_at == NOW
    assert notice.delivered_at is None
    assert (notice.source_event_id, notice.correlation_id) == ("evt-1", "corr-1")


def test_the_rectification_notice_renders_in_chinese_with_local_dates(
    renderer: TemplateRenderer,
) -> None:
    rendered = renderer.render(NoticeType.RECTIFICATION, RECIPIENT, dict(RECTIFICATION))

    assert rendered.subject == "【邻里】整改通知"
    body = rendered.body
    assert body.startswith("张三（幸福路 1 号 2 栋 301）：")
    assert "2026年03月02日 对您的环境卫生检查未通过" in body  # local date, checklist name
    assert "  - stairwells clear（一般）：楼道堆物" in body
    assert "  - no small ads（轻微）\n" in body  # no note, no colon
    assert "请于 2026年03月05日 01:30 前完成整改" in body  # comply-by in local time
    assert "2026-03" not in body  # no raw ISO timestamps leak
    assert "{{" not in body and "{%" not in body
    assert body.endswith("社区网格服务中心\n")


def test_the_score_change_notice_renders_in_chinese(renderer: TemplateRenderer) -> None:
    rendered = renderer.render(NoticeType.SCORE_CHANGE, RECIPIENT, dict(SCORE_CHANGE))

    assert rendered.subject == "【邻里】诚信积分变动通知"
    assert "您的诚信积分由 1000 分变为 980 分（-20），当前诚信等级为 A。" in rendered.body
    assert "原因：检查未通过。" in rendered.body
    assert rendered.body.startswith("张三（幸福路 1 号 2 栋 301）：")


def test_a_gain_is_shown_with_its_sign(renderer: TemplateRenderer) -> None:
    variables = {**SCORE_CHANGE, "score_after": 1010, "points": 10, "grade_after": "AA"}
    rendered = renderer.render(NoticeType.SCORE_CHANGE, RECIPIENT, variables)
    assert "（+10）" in rendered.body


def test_dates_follow_the_configured_zone() -> None:
    utc = TemplateRenderer("UTC").render(NoticeType.RECTIFICATION, RECIPIENT, dict(RECTIFICATION))
    assert "2026年03月01日 对您的" in utc.body
    assert "请于 2026年03月04日 17:30 前" in utc.body


def test_rendering_does_not_change_the_notice_variables(renderer: TemplateRenderer) -> None:
    variables = dict(RECTIFICATION)
    renderer.render(NoticeType.RECTIFICATION, RECIPIENT, variables)
    assert variables == RECTIFICATION


@pytest.mark.parametrize("missing", ["inspected_at", "checklist", "comply_by", "findings"])
def test_a_rectification_missing_a_variable_raises(
    renderer: TemplateRenderer, missing: str
) -> None:
    variables = {k: v for k, v in RECTIFICATION.items() if k != missing}
    with pytest.raises(UndefinedError):
        renderer.render(NoticeType.RECTIFICATION, RECIPIENT, variables)


@pytest.mark.parametrize(
    "missing", ["score_before", "score_after", "points", "grade_after", "reason_code"]
)
def test_a_score_change_missing_a_variable_raises(renderer: TemplateRenderer, missing: str) -> None:
    variables = {k: v for k, v in SCORE_CHANGE.items() if k != missing}
    with pytest.raises(UndefinedError):
        renderer.render(NoticeType.SCORE_CHANGE, RECIPIENT, variables)


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(1, 5), (2, 10), (3, 20), (4, 40), (5, 80), (7, 320), (8, 600), (9, 600), (20, 600)],
)
def test_retry_delay_doubles_up_to_ten_minutes(attempts: int, seconds: int) -> None:
    assert retry_delay(attempts) == timedelta(seconds=seconds)


@settings(deadline=None)
@given(st.integers(min_value=1, max_value=10_000))
def test_retry_delay_is_positive_growing_and_capped_for_any_attempt_count(attempts: int) -> None:
    # delivery_max_attempts has no upper bound, so any attempt count can reach retry_delay.
    delay = retry_delay(attempts)
    assert timedelta(0) < delay <= timedelta(minutes=10)
    assert retry_delay(attempts + 1) >= delay


@pytest.mark.parametrize(
    ("attempts", "max_attempts", "give_up"),
    [(0, 5, False), (1, 5, False), (4, 5, False), (5, 5, True), (6, 5, True), (1, 1, True)],
)
def test_should_give_up_after_max_attempts(attempts: int, max_attempts: int, give_up: bool) -> None:
    assert should_give_up(attempts, max_attempts) is give_up


@given(st.integers(min_value=0, max_value=1000), st.integers(min_value=1, max_value=1000))
def test_giving_up_is_reaching_the_limit(attempts: int, max_attempts: int) -> None:
    assert should_give_up(attempts, max_attempts) == (attempts >= max_attempts)
