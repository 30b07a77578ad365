"""The retention policies as data: every service ships one that names each of its categories
with a period and a reason; versions take effect by date; a policy that leaves a category out,
names an unknown one or keeps the audit trail less than the database's floor is refused (an
older version may lack a category a later one brought in, never drop one); the Kafka manifests
keep dead letters as long as the policies say; the replaced settings refuse."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from linli.services import SERVICES
from linli_shared.retention import (
    RetentionBook,
    RetentionPolicy,
    RetentionPolicyError,
    load_retention_book,
    retention_policy_from_mapping,
)
from linli_shared.settings import PlatformSettings

REPO = Path(__file__).resolve().parents[2]
TOPICS = REPO / "deploy" / "k8s" / "base" / "kafka-topics.yaml"
DAY_MS = 24 * 3600 * 1000
# Kafka deletes a log segment once its newest record has expired: a record can outlive the
# topic's retention.ms by up to a segment's age (segment.ms, 7 days by default).
SEGMENT_DAYS = 7

CATEGORIES = ("audit_trail", "outbox", "inbox")


def _document(version: str, effective_from: date, **days: int) -> dict[str, Any]:
    periods = {"audit_trail": 1095, "outbox": 7, "inbox": 45, **days}
    return {
        "version": version,
        "effective_from": effective_from,
        "time_zone": "Asia/Shanghai",
        "categories": {
            name: {"days": value, "reason": f"why {name} is kept {value} days"}
            for name, value in periods.items()
        },
    }


def _policy(version: str, effective_from: date, **days: int) -> RetentionPolicy:
    return retention_policy_from_mapping(_document(version, effective_from, **days), CATEGORIES)


def _policies() -> dict[str, RetentionPolicy]:
    """Each service's policy in force today, as its job loads it."""
    policies = {}
    for name, definition in SERVICES.items():
        job = definition.create_retention()
        policies[name] = job.policy()
    return policies


def test_the_version_in_force_is_the_latest_whose_local_date_has_come() -> None:
    first = _policy("2026.1", date(2026, 1, 1))
    second = _policy("2027.1", date(2027, 1, 1), outbox=14)
    book = RetentionBook((second, first))
    # 2027-01-01 begins at 16:00 UTC the day before in Asia/Shanghai.
    assert book.at(datetime(2026, 12, 31, 15, 59, tzinfo=UTC)).version == "2026.1"
    assert book.at(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)).version == "2027.1"
    assert book.at(datetime(2025, 6, 1, tzinfo=UTC)).version == "2026.1"
    cutoff = book.at(datetime(2027, 3, 1, tzinfo=UTC)).cutoff(
        "outbox", datetime(2027, 3, 1, tzinfo=UTC)
    )
    assert cutoff == datetime(2027, 2, 15, tzinfo=UTC)


def test_a_policy_must_name_exactly_the_services_categories() -> None:
    document = _document("2026.1", date(2026, 1, 1))
    del document["categories"]["inbox"]
    with pytest.raises(RetentionPolicyError, match="no period for inbox") as missing:
        retention_policy_from_mapping(document, CATEGORIES)
    assert missing.value.field == "categories"
    with pytest.raises(RetentionPolicyError, match="photos: not a category"):
        retention_policy_from_mapping(_document("2026.1", date(2026, 1, 1), photos=30), CATEGORIES)


def _write(directory: Path, version: str, effective_from: str, categories: dict[str, int]) -> None:
    text = f'version = "{version}"\neffective_from = {effective_from}\n'
    text += 'time_zone = "Asia/Shanghai"\n'
    for name, days in categories.items():
        text += f'[categories.{name}]\ndays = {days}\nreason = "why {name} is kept so long"\n'
    (directory / f"{version}.toml").write_text(text)


def test_a_category_comes_with_a_new_version_and_is_never_dropped_by_a_later_one(
    tmp_path: Path,
) -> None:
    common = {"audit_trail": 1095, "outbox": 7, "inbox": 45}
    _write(tmp_path, "2026.1", "2026-01-01", common)
    _write(tmp_path, "2026.2", "2026-12-03", {**common, "photos": 30})

    book = load_retention_book(tmp_path, [*CATEGORIES, "photos"])
    assert "photos" not in book.at(datetime(2026, 6, 1, tzinfo=UTC)).periods
    assert book.at(datetime(2027, 1, 1, tzinfo=UTC)).period("photos").days == 30

    _write(tmp_path, "2027.1", "2027-01-01", common)
    with pytest.raises(RetentionPolicyError, match=r"policy 2027\.1: no period for photos"):
        load_retention_book(tmp_path, [*CATEGORIES, "photos"])
    (tmp_path / "2027.1.toml").unlink()
    with pytest.raises(RetentionPolicyError, match=r"policy 2026\.2: no period for videos"):
        load_retention_book(tmp_path, [*CATEGORIES, "photos", "videos"])


def test_every_period_needs_its_reason_and_a_positive_length() -> None:
    document = _document("2026.1", date(2026, 1, 1))
    document["categories"]["outbox"] = {"days": 7}
    with pytest.raises(RetentionPolicyError) as no_reason:
        retention_policy_from_mapping(document, CATEGORIES)
    assert no_reason.value.field == "categories.outbox.reason"
    with pytest.raises(RetentionPolicyError) as zero:
        retention_policy_from_mapping(_document("2026.1", date(2026, 1, 1), outbox=0), CATEGORIES)
    assert zero.value.field == "categories.outbox.days"


def test_the_audit_trail_is_never_kept_less_than_the_databases_floor() -> None:
    with pytest.raises(RetentionPolicyError, match="at least 180 days") as short:
        _policy("2026.1", date(2026, 1, 1), audit_trail=179)
    assert short.value.field == "categories.audit_trail.days"


def test_two_versions_cannot_share_a_name_or_a_date(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.toml").write_text(
            'version = "2026.1"\neffective_from = 2026-01-01\ntime_zone = "Asia/Shanghai"\n'
            '[categories.audit_trail]\ndays = 1095\nreason = "the audit duty"\n'
            '[categories.outbox]\ndays = 7\nreason = "a week to look into"\n'
            '[categories.inbox]\ndays = 45\nreason = "outlasts a replay"\n'
        )
    with pytest.raises(RetentionPolicyError, match="duplicate versions"):
        load_retention_book(tmp_path, CATEGORIES)


def test_every_service_ships_a_policy_with_a_reason_for_each_of_its_categories() -> None:
    policies = _policies()
    own = {
        "registry": {"deregistered_members", "access_requests", "dead_letters"},
        "inspections": {"inspection_evidence", "dead_letters"},
        "credit": {"green_channel_checks", "dead_letters"},
        "notify": {"notice_bodies", "delivery_logs", "webhook_messages", "dead_letters"},
    }
    for name, policy in policies.items():
        assert set(policy.periods) == {*CATEGORIES, *own[name]}, name
        for period in policy.periods.values():
            assert len(period.reason) > 60, (name, period.category)
            assert "\n" not in period.reason


def test_the_inbox_outlasts_every_way_a_record_can_come_back() -> None:
    """A forgotten id that is delivered again is applied again: each service's inbox period
    must outlast the longest any topic keeps a record (its retention.ms plus a segment's age)."""
    longest = max(int(topic["spec"]["config"]["retention.ms"]) for topic in _topics())
    for name, policy in _policies().items():
        assert policy.period("inbox").days * DAY_MS > longest + SEGMENT_DAYS * DAY_MS, name


def test_the_dead_letter_topics_keep_records_as_long_as_their_consumers_policy_says() -> None:
    policies = _policies()
    dead_letter_topics = [
        topic
        for topic in _topics()
        if topic["metadata"]["labels"]["linli.io/topic-kind"] == "dead-letter"
    ]
    assert dead_letter_topics
    for topic in dead_letter_topics:
        group = topic["metadata"]["name"].rsplit(".dlq.", 1)[1]
        service = group.removeprefix("linli-")
        days = policies[service].period("dead_letters").days
        assert int(topic["spec"]["config"]["retention.ms"]) == days * DAY_MS, (
            f"{topic['metadata']['name']}: retention.ms must be {days} days, the dead_letters "
            f"period of {service}'s retention policy"
        )


@pytest.mark.parametrize("name", ["outbox", "inbox"])
def test_the_replaced_retention_settings_refuse_to_be_set(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"LINLI_{name.upper()}_RETENTION_DAYS", "7")
    with pytest.raises(ValidationError, match=rf"replaced by the `{name}` period of each service"):
        PlatformSettings()


def _topics() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(TOPICS.read_text()) if doc]
