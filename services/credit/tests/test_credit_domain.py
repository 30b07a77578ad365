"""Credit policy (grades, bounds, points) and the ledger's arithmetic, without I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linli_credit.api.schemas import FiveGoodCriteriaIn
from linli_credit.domain.ledger import (
    FAILED_INSPECTION,
    FIVE_GOOD_CRITERIA,
    Account,
    Entry,
    failed_inspection_entry,
    score_of,
)
from linli_credit.domain.policy import GRADES, Policy, load_policy_book
from linli_shared.contracts.common import Severity
from linli_shared.contracts.credit import CreditSubjectKind

# The shipped policy files, loaded as the app loads them (settings.policy_dir).
POLICIES = load_policy_book()
DEFAULT_POLICY = POLICIES.version("2026.1")

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SUBJECT = uuid.UUID("00000000-0000-4000-8000-0000000000c1")


def _entry(points: int, n: int = 0) -> Entry:
    return Entry(
        id=uuid.uuid4(),
        subject_id=SUBJECT,
        points=points,
        reason_code="test",
        policy_version="test",
        source_event_id=f"event-{n}",
        severity=None,
        occurred_at=NOW,
        recorded_at=NOW + timedelta(seconds=n),
    )


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        (1200, "AAA"),
        (1100, "AAA"),
        (1099, "AA"),
        (1000, "AA"),
        (999, "A"),
        (900, "A"),
        (899, "B"),
        (700, "B"),
        (699, "C"),
        (0, "C"),
    ],
)
def test_default_grade_thresholds(score: int, grade: str) -> None:
    assert DEFAULT_POLICY.grade(score) == grade


def test_a_new_account_starts_at_the_base_score() -> None:
    account = Account.open(SUBJECT, CreditSubjectKind.HOUSEHOLD, DEFAULT_POLICY, NOW)
    assert account.score == DEFAULT_POLICY.base_score == 1000
    assert account.grade == "AA"
    assert account.opened_at == NOW
    assert account.subject_kind is CreditSubjectKind.HOUSEHOLD


@pytest.mark.parametrize(
    ("raw", "clamped"),
    [(-1, 0), (-10_000, 0), (0, 0), (600, 600), (1200, 1200), (1201, 1200), (99_999, 1200)],
)
def test_scores_are_clamped_to_the_policy_bounds(raw: int, clamped: int) -> None:
    assert DEFAULT_POLICY.clamp(raw) == clamped


def test_failed_inspection_points_grow_with_severity() -> None:
    points = {s: DEFAULT_POLICY.points_for_failed_inspection(s) for s in Severity}
    assert points == {Severity.LIGHT: -5, Severity.GENERAL: -20, Severity.SERIOUS: -50}
    by_rank = [points[s] for s in sorted(Severity, key=lambda s: s.rank)]
    assert by_rank == sorted(by_rank, reverse=True)


def test_a_failed_inspection_entry_is_explained() -> None:
    account = Account.open(SUBJECT, CreditSubjectKind.HOUSEHOLD, DEFAULT_POLICY, NOW)
    entry = failed_inspection_entry(
        account,
        severity=Severity.SERIOUS,
        source_event_id="evt-42",
        occurred_at=NOW - timedelta(hours=3),
        policy=DEFAULT_POLICY,
        now=NOW,
    )
    assert entry.subject_id == SUBJECT
    assert entry.points == -50
    assert entry.reason_code == FAILED_INSPECTION == "inspection.failed"
    assert entry.policy_version == DEFAULT_POLICY.version
    assert entry.source_event_id == "evt-42"
    assert entry.severity is Severity.SERIOUS
    assert entry.occurred_at == NOW - timedelta(hours=3)
    assert entry.recorded_at == NOW

    posted = account.post(entry, DEFAULT_POLICY)
    assert (posted.score, posted.grade) == (950, "A")
    assert (account.score, account.grade) == (1000, "AA")  # accounts are values


def test_posting_clamps_at_the_floor_and_the_ceiling() -> None:
    account = Account.open(SUBJECT, CreditSubjectKind.HOUSEHOLD, DEFAULT_POLICY, NOW)
    floor = account.post(_entry(-5000), DEFAULT_POLICY)
    assert (floor.score, floor.grade) == (0, "C")
    ceiling = account.post(_entry(+5000), DEFAULT_POLICY)
    assert (ceiling.score, ceiling.grade) == (1200, "AAA")


def test_clamping_applies_to_the_sum_so_order_does_not_matter() -> None:
    # The score is the policy applied to the counting entries: clamp(base + sum). Clamping at
    # each step would make the score depend on the order of entries, and an entry that stops
    # counting (expiry, repair) could not be taken out again without replaying history.
    assert score_of([_entry(-5000, 0), _entry(+100, 1)], DEFAULT_POLICY) == 0
    assert score_of([_entry(+100, 0), _entry(-5000, 1)], DEFAULT_POLICY) == 0
    assert score_of([_entry(+5000, 0), _entry(-100, 1)], DEFAULT_POLICY) == 1200
    assert score_of([_entry(+300, 0), _entry(-100, 1)], DEFAULT_POLICY) == 1200


def test_no_entries_is_the_base_score() -> None:
    assert score_of([], DEFAULT_POLICY) == DEFAULT_POLICY.base_score


SMALL = Policy(
    version="test",
    base_score=50,
    min_score=0,
    max_score=100,
    grade_floors=(("AAA", 90), ("AA", 70), ("A", 50), ("B", 30)),
    failed_inspection_points={Severity.LIGHT: -1, Severity.GENERAL: -10, Severity.SERIOUS: -40},
)

policies = st.sampled_from([DEFAULT_POLICY, SMALL])
points_lists = st.lists(st.integers(min_value=-3000, max_value=3000), max_size=40)


@settings(deadline=None)
@given(policies, points_lists)
def test_score_of_equals_posting_the_entries_one_by_one(policy: Policy, points: list[int]) -> None:
    entries = [_entry(p, i) for i, p in enumerate(points)]
    account = Account.open(SUBJECT, CreditSubjectKind.HOUSEHOLD, policy, NOW)
    for entry in entries:
        account = account.post(entry, policy)
        assert policy.min_score <= account.score <= policy.max_score
        assert account.grade == policy.grade(account.score)
    assert score_of(entries, policy) == account.score


@settings(deadline=None)
@given(policies, st.lists(st.sampled_from(list(Severity)), max_size=60))
def test_failed_inspections_never_push_a_score_out_of_bounds(
    policy: Policy, severities: list[Severity]
) -> None:
    account = Account.open(SUBJECT, CreditSubjectKind.HOUSEHOLD, policy, NOW)
    entries = []
    for i, severity in enumerate(severities):
        entry = failed_inspection_entry(
            account,
            severity=severity,
            source_event_id=f"evt-{i}",
            occurred_at=NOW,
            policy=policy,
            now=NOW,
        )
        before = account.score
        account = account.post(entry, policy)
        entries.append(entry)
        assert policy.min_score <= account.score <= before  # a penalty never raises a score
    assert score_of(entries, policy) == account.score


@settings(deadline=None)
@given(policies, st.integers(min_value=-500, max_value=1500), st.integers(0, 1500))
def test_a_higher_score_never_earns_a_worse_grade(policy: Policy, low: int, gap: int) -> None:
    high = low + gap
    assert GRADES.index(policy.grade(high)) <= GRADES.index(policy.grade(low))
    assert policy.grade(low) in GRADES


def test_the_api_asks_for_exactly_the_five_good_criteria_of_the_domain() -> None:
    assert set(FiveGoodCriteriaIn.model_fields) == set(FIVE_GOOD_CRITERIA)
