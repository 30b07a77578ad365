"""Inspection rules and derived values (outcome, severity, comply-by), without I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linli_inspections.domain.inspection import (
    COMPLY_WITHIN,
    Evidence,
    Finding,
    Inspection,
    Outcome,
    record,
)
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.rules import RuleViolation

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SUBJECT = uuid.UUID("00000000-0000-4000-8000-000000000001")


def _record(findings: list[Finding], inspected_at: datetime = NOW) -> Inspection:
    return record(
        subject_id=SUBJECT,
        subject_kind=SubjectKind.HOUSEHOLD,
        checklist="sanitation",
        inspector_id="inspector-1",
        inspected_at=inspected_at,
        findings=findings,
        now=NOW,
    )


def test_all_findings_passed_is_a_passed_inspection() -> None:
    inspection = _record(
        [
            Finding("no exposed garbage", True, Severity.SERIOUS),
            Finding("stairwells clear", True, Severity.GENERAL),
        ]
    )
    assert inspection.outcome is Outcome.PASSED
    assert inspection.failed_findings == ()
    assert inspection.severity is None
    assert inspection.comply_by is None


@pytest.mark.parametrize(
    ("severity", "days"),
    [(Severity.LIGHT, 7), (Severity.GENERAL, 3), (Severity.SERIOUS, 1)],
)
def test_one_failed_finding_fails_it_with_a_deadline_by_severity(
    severity: Severity, days: int
) -> None:
    inspection = _record(
        [
            Finding("no exposed garbage", True, Severity.GENERAL),
            Finding("stairwells clear", False, severity, note="楼道堆物"),
        ]
    )
    assert inspection.outcome is Outcome.FAILED
    assert inspection.severity is severity
    assert inspection.comply_by == NOW + timedelta(days=days)
    assert inspection.failed_findings == (Finding("stairwells clear", False, severity, "楼道堆物"),)


def test_the_worst_failed_finding_sets_severity_and_deadline() -> None:
    inspection = _record(
        [
            Finding("no small ads", False, Severity.LIGHT),
            Finding("no exposed garbage", False, Severity.SERIOUS),
            Finding("bins emptied daily", False, Severity.GENERAL),
        ]
    )
    assert inspection.severity is Severity.SERIOUS
    assert inspection.comply_by == NOW + timedelta(days=1)
    assert [f.item for f in inspection.failed_findings] == [
        "no small ads",
        "no exposed garbage",
        "bins emptied daily",
    ]


def test_a_passed_serious_finding_does_not_raise_the_severity() -> None:
    inspection = _record(
        [
            Finding("no exposed garbage", True, Severity.SERIOUS),
            Finding("no small ads", False, Severity.LIGHT),
        ]
    )
    assert inspection.severity is Severity.LIGHT
    assert inspection.comply_by == NOW + timedelta(days=7)


def test_deadlines_shrink_as_severity_grows() -> None:
    ordered = sorted(Severity, key=lambda s: s.rank)
    assert ordered == [Severity.LIGHT, Severity.GENERAL, Severity.SERIOUS]
    windows = [COMPLY_WITHIN[s] for s in ordered]
    assert windows == sorted(windows, reverse=True)
    assert all(window > timedelta(0) for window in windows)


def test_record_keeps_what_it_was_given() -> None:
    findings = [Finding("no exposed garbage", False, Severity.GENERAL, "东门垃圾外露")]
    inspection = record(
        subject_id=SUBJECT,
        subject_kind=SubjectKind.ORGANISATION,
        checklist="street_order",
        inspector_id="inspector-9",
        inspected_at=NOW - timedelta(hours=2),
        findings=findings,
        now=NOW,
    )
    assert inspection.subject_id == SUBJECT
    assert inspection.subject_kind is SubjectKind.ORGANISATION
    assert inspection.checklist == "street_order"
    assert inspection.inspector_id == "inspector-9"
    assert inspection.inspected_at == NOW - timedelta(hours=2)
    assert inspection.findings == tuple(findings)
    assert _record(findings).id != _record(findings).id


def test_an_inspection_without_findings_is_refused() -> None:
    with pytest.raises(RuleViolation) as raised:
        _record([])
    assert raised.value.field == "findings"


def test_an_item_is_recorded_once() -> None:
    with pytest.raises(RuleViolation) as raised:
        _record(
            [
                Finding("no exposed garbage", True, Severity.GENERAL),
                Finding("stairwells clear", True, Severity.GENERAL),
                Finding("no exposed garbage", False, Severity.SERIOUS),
            ]
        )
    assert raised.value.field == "findings"


def test_an_inspection_in_the_future_is_refused() -> None:
    with pytest.raises(RuleViolation) as raised:
        _record(
            [Finding("no exposed garbage", True, Severity.GENERAL)],
            inspected_at=NOW + timedelta(minutes=5, seconds=1),
        )
    assert raised.value.field == "inspected_at"

    with pytest.raises(RuleViolation):
        _record([Finding("x", True, Severity.GENERAL)], inspected_at=NOW + timedelta(days=1))


@pytest.mark.parametrize(
    "offset",
    [timedelta(minutes=5), timedelta(minutes=1), timedelta(0), -timedelta(days=30)],
    ids=["clock-skew-limit", "small-skew", "now", "past"],
)
def test_small_clock_skew_and_the_past_are_accepted(offset: timedelta) -> None:
    inspection = _record([Finding("x", True, Severity.GENERAL)], inspected_at=NOW + offset)
    assert inspection.inspected_at == NOW + offset


def _photo(taken_at: datetime) -> Finding:
    evidence = Evidence("s3://evidence/a.jpg", "ab" * 32, 39.9, 116.4, taken_at)
    return Finding("stairwells clear", False, Severity.GENERAL, evidence=(evidence,))


def test_a_photo_dated_beyond_the_clock_skew_is_refused_naming_it() -> None:
    with pytest.raises(RuleViolation) as raised:
        _record([_photo(NOW + timedelta(days=3 * 365))])
    assert raised.value.field == "findings.0.evidence.0.taken_at"
    with pytest.raises(RuleViolation):
        _record([_photo(NOW + timedelta(minutes=5, seconds=1))])
    assert _record([_photo(NOW + timedelta(minutes=5))]).findings[0].evidence[0].taken_at


def test_the_clock_skew_allowed_is_a_setting() -> None:
    def with_skew(skew: timedelta) -> Inspection:
        return record(
            subject_id=SUBJECT,
            subject_kind=SubjectKind.HOUSEHOLD,
            checklist="sanitation",
            inspector_id="inspector-1",
            inspected_at=NOW,
            findings=[_photo(NOW + timedelta(minutes=8))],
            now=NOW,
            clock_skew=skew,
        )

    assert with_skew(timedelta(minutes=10)).findings[0].evidence[0].taken_at
    with pytest.raises(RuleViolation):
        with_skew(timedelta(minutes=1))


findings_strategy = st.lists(
    st.builds(
        Finding,
        item=st.text(min_size=1, max_size=8),
        passed=st.booleans(),
        severity=st.sampled_from(list(Severity)),
    ),
    min_size=1,
    max_size=10,
    unique_by=lambda finding: finding.item,
)


@settings(deadline=None)
@given(findings_strategy, st.integers(min_value=0, max_value=60 * 24 * 365))
def test_outcome_severity_and_deadline_follow_from_the_findings(
    findings: list[Finding], minutes_ago: int
) -> None:
    inspected_at = NOW - timedelta(minutes=minutes_ago)
    inspection = _record(findings, inspected_at=inspected_at)

    failed = [f for f in findings if not f.passed]
    assert list(inspection.failed_findings) == failed
    if not failed:
        assert inspection.outcome is Outcome.PASSED
        assert inspection.severity is None
        assert inspection.comply_by is None
    else:
        worst = max(f.severity.rank for f in failed)
        assert inspection.outcome is Outcome.FAILED
        assert inspection.severity is not None
        assert inspection.severity.rank == worst
        # Counted from the upload (`now`), however long ago the inspector looked.
        assert inspection.received_at == NOW
        assert inspection.comply_by == NOW + COMPLY_WITHIN[inspection.severity]
