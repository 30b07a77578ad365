"""Properties of the ledger and the policy, without I/O (hypothesis)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linli_credit.domain.appeal import AppealConflict, file_appeal
from linli_credit.domain.ledger import (
    APPEAL_REVERSAL,
    Account,
    Entry,
    appeal_reversals,
    capped,
    entry_id_for,
    evaluate,
    failed_inspection_entry,
    five_good_entry,
    rectification_entry,
    repair_entry,
    volunteer_entry,
)
from linli_credit.domain.policy import (
    Cap,
    PolicyBook,
    PolicyError,
    add_months,
    load_policy,
    load_policy_book,
    policy_from_mapping,
)
from linli_shared.contracts.common import Severity
from linli_shared.contracts.credit import CreditSubjectKind
from linli_shared.rules import RuleViolation

# The shipped policy files, loaded as the app loads them (settings.policy_dir).
POLICIES = load_policy_book()
P = DEFAULT_POLICY = POLICIES.version("2026.1")
SUBJECT = uuid.UUID("00000000-0000-4000-8000-0000000000d1")
T0 = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
ALL_CRITERIA = {
    "patriotic_law_abiding_public_spirited": True,
    "learning_and_dedicated_at_work": True,
    "equality_respect_for_elders_good_neighbours": True,
    "modern_customs": True,
    "thrift_and_environmental_protection": True,
}


def account() -> Account:
    return Account.open(SUBJECT, CreditSubjectKind.HOUSEHOLD, P, T0)


def penalty(n: int, severity: Severity = Severity.GENERAL, at: datetime = T0) -> Entry:
    return failed_inspection_entry(
        account(),
        severity=severity,
        source_event_id=f"evt-{n}",
        occurred_at=at,
        policy=P,
        now=at,
        inspection_id=uuid.uuid5(SUBJECT, str(n)),
    )


# --- the policy file --------------------------------------------------------------------------


def test_the_shipped_policy_file_is_the_default_policy() -> None:
    assert POLICIES.versions == ["2026.1", "2026.2", "2026.3"]
    assert (P.base_score, P.min_score, P.max_score) == (1000, 0, 1200)
    assert P.grade_floors == (("AAA", 1100), ("AA", 1000), ("A", 900), ("B", 700))
    assert P.effective_from == date(2026, 1, 1)
    assert P.repair[Severity.SERIOUS].max_months == 36


def test_a_broken_policy_file_names_the_key(tmp_path: Path) -> None:
    source = (Path(__file__).parents[1] / "src/linli_credit/policies/2026.1.toml").read_text()
    broken = tmp_path / "broken.toml"
    broken.write_text(source.replace("AA = 1000", "AA = 1200"))
    with pytest.raises(PolicyError) as error:
        load_policy(broken)
    assert error.value.field == "grades"
    with pytest.raises(PolicyError) as error:
        policy_from_mapping({"version": "x"})
    assert error.value.field == "time_zone"


def test_a_new_version_applies_from_its_effective_date() -> None:
    later = policy_from_mapping(
        _raw_policy(version="2027.1", effective_from=date(2027, 1, 1), general=-30)
    )
    book = PolicyBook((later, P))
    assert book.versions == ["2026.1", "2027.1"]
    # 2026-12-31 23:30 in Shanghai is still 2026; 16:30 UTC is already 2027-01-01 00:30 there.
    assert book.at(datetime(2026, 12, 31, 15, 30, tzinfo=UTC)).version == "2026.1"
    assert book.at(datetime(2026, 12, 31, 16, 30, tzinfo=UTC)).version == "2027.1"
    assert book.version("2026.1") is P


def _raw_policy(**overrides: object) -> dict[str, object]:
    import tomllib

    raw = tomllib.loads(
        (Path(__file__).parents[1] / "src/linli_credit/policies/2026.1.toml").read_text()
    )
    raw["version"] = overrides.get("version", raw["version"])
    raw["effective_from"] = overrides.get("effective_from", raw["effective_from"])
    if "general" in overrides:
        raw["points"]["inspection_failed"]["general"] = overrides["general"]
    return raw


@given(st.dates(date(2000, 1, 1), date(2090, 12, 31)), st.integers(0, 48))
def test_add_months_lands_in_the_right_month(day: date, months: int) -> None:
    later = add_months(day, months)
    assert (later.year * 12 + later.month) - (day.year * 12 + day.month) == months
    assert later.day == day.day or later.day < day.day  # clamped to a shorter month
    assert later >= day


def test_add_months_reaches_the_calendars_last_month_and_overflows_past_it() -> None:
    assert add_months(date(9999, 11, 30), 1) == date(9999, 12, 30)
    assert add_months(date(9999, 1, 31), 1) == date(9999, 2, 28)
    # An OverflowError, which the consumer dead-letters as malformed at once (a ValueError was
    # retried as a handler fault first).
    with pytest.raises(OverflowError):
        add_months(date(9999, 12, 1), 1)
    with pytest.raises(OverflowError):
        add_months(date(1, 1, 1), -1)


# --- score = policy applied to the counting entries -----------------------------------------

entry_specs = st.lists(
    st.tuples(
        st.integers(-200, 200),  # points
        st.integers(0, 400),  # occurred, days after T0
        st.integers(0, 5),  # recorded, days after occurred
        st.one_of(st.none(), st.integers(1, 400)),  # counts for days
    ),
    max_size=30,
)


def _entries(specs: list[tuple[int, int, int, int | None]]) -> list[Entry]:
    made = []
    for i, (points, occurred, lag, lasts) in enumerate(specs):
        at = T0 + timedelta(days=occurred)
        made.append(
            Entry(
                id=entry_id_for(f"spec-{i}"),
                subject_id=SUBJECT,
                points=points,
                reason_code="test",
                policy_version=P.version,
                source_event_id=f"spec-{i}",
                severity=None,
                occurred_at=at,
                recorded_at=at + timedelta(days=lag),
                counts_until=None if lasts is None else at + timedelta(days=lasts),
            )
        )
    return made


@settings(deadline=None, max_examples=200)
@given(entry_specs, st.integers(0, 900))
def test_the_live_projection_is_the_policy_applied_to_the_counting_entries(
    specs: list[tuple[int, int, int, int | None]], horizon: int
) -> None:
    """Post entries as they are recorded and let expiries settle, as the service does; at every
    step the projection equals evaluating the ledger from scratch."""
    entries = sorted(_entries(specs), key=lambda e: (e.recorded_at, e.id))
    live = account()
    posted: list[Entry] = []
    settled: set[uuid.UUID] = set()

    def settle(now: datetime) -> None:
        nonlocal live
        due = [
            e for e in posted if e.counts_until and e.counts_until <= now and e.id not in settled
        ]
        if due:
            settled.update(e.id for e in due)
            live = live.rescore(evaluate(posted, P, now).balance, P)

    for entry in entries:
        now = entry.recorded_at
        settle(now)
        posted.append(entry)
        live = live.post(entry, P, now)
        if entry.counts_until is not None and entry.counts_until <= now:
            settled.add(entry.id)
        truth = evaluate(posted, P, now)
        assert (live.balance, live.score, live.grade) == (truth.balance, truth.score, truth.grade)
        assert P.min_score <= live.score <= P.max_score
    end = T0 + timedelta(days=horizon + 410)
    settle(end)
    truth = evaluate(posted, P, end)
    assert (live.score, live.grade) == (truth.score, truth.grade)


@settings(deadline=None)
@given(entry_specs, st.randoms(use_true_random=False), st.integers(0, 800))
def test_the_order_of_entries_never_changes_a_score(
    specs: list[tuple[int, int, int, int | None]], random: object, day: int
) -> None:
    entries = _entries(specs)
    shuffled = list(entries)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    at = T0 + timedelta(days=day)
    assert evaluate(entries, P, at).score == evaluate(shuffled, P, at).score


@settings(deadline=None)
@given(entry_specs, st.integers(0, 800), st.integers(0, 800))
def test_known_at_shows_the_record_as_it_stood(
    specs: list[tuple[int, int, int, int | None]], day: int, known: int
) -> None:
    entries = _entries(specs)
    at, known_at = T0 + timedelta(days=day), T0 + timedelta(days=known)
    as_then = evaluate(entries, P, at, known_at)
    assert as_then == evaluate([e for e in entries if e.recorded_at <= known_at], P, at)


# --- caps -----------------------------------------------------------------------------------


@given(st.lists(st.integers(-60, 0), max_size=20), st.integers(0, 150))
def test_a_cap_is_never_exceeded_and_cuts_only_what_is_over(raws: list[int], limit: int) -> None:
    cap = Cap("test", frozenset({"x"}), "month", limit)
    total = 0
    for raw in raws:
        points, hit = capped(raw, [(cap, total)])
        assert raw <= points <= 0
        assert bool(hit) == (points != raw)
        total += points
        assert abs(total) <= limit


# --- corrections keep the ledger balanced ----------------------------------------------------


@settings(deadline=None)
@given(
    st.sampled_from(list(Severity)),
    st.booleans(),
    st.booleans(),
    st.integers(0, 1200),
)
def test_an_upheld_appeal_nets_the_whole_chain_to_zero_at_every_instant(
    severity: Severity, rectified: bool, on_time: bool, probe_days: int
) -> None:
    original = penalty(1, severity)
    ledger = [original]
    if rectified:
        follow = rectification_entry(
            original,
            ledger,
            on_time=on_time,
            source_event_id="rect-1",
            occurred_at=T0 + timedelta(days=3),
            policy=P,
            now=T0 + timedelta(days=3),
        )
        assert follow is not None
        ledger.append(follow)
    decided = T0 + timedelta(days=20)
    reversals = appeal_reversals(original, ledger, appeal_id=uuid.uuid4(), policy=P, now=decided)
    assert {r.refers_to for r in reversals} == {e.id for e in ledger}
    assert all(r.reason_code == APPEAL_REVERSAL for r in reversals)
    full = ledger + reversals
    probe = T0 + timedelta(days=probe_days)
    assert evaluate(full, P, probe).balance == 0  # retroactive: as if it never happened
    # ... while the record as it stood before the decision still shows the penalty.
    if original.counts_at(T0 + timedelta(days=10)):
        assert (
            evaluate(full, P, T0 + timedelta(days=10), known_at=decided - timedelta(1)).balance < 0
        )
    # Upholding twice adds nothing more.
    assert appeal_reversals(original, full, appeal_id=uuid.uuid4(), policy=P, now=decided) == []


def test_rectification_on_time_gives_back_half_and_late_adds_half_once() -> None:
    original = penalty(1, Severity.SERIOUS)
    refund = rectification_entry(
        original, [original], on_time=True, source_event_id="r", occurred_at=T0, policy=P, now=T0
    )
    assert refund is not None
    assert (refund.points, refund.refers_to, refund.counts_until) == (
        25,
        original.id,
        original.counts_until,
    )
    late = rectification_entry(
        original, [original], on_time=False, source_event_id="l", occurred_at=T0, policy=P, now=T0
    )
    assert late is not None and late.points == -25 and late.reason_code == "rectification.late"
    # The first outcome settles the penalty.
    assert (
        rectification_entry(
            original,
            [original, late],
            on_time=False,
            source_event_id="l2",
            occurred_at=T0,
            policy=P,
            now=T0,
        )
        is None
    )


def test_repair_waits_for_the_minimum_period_and_cancels_what_is_left() -> None:
    original = penalty(1, Severity.GENERAL)  # general: repairable after 6 months
    with pytest.raises(RuleViolation) as early:
        repair_entry(
            original, [original], made_under=P, policy=P, now=T0 + timedelta(days=150), note="n"
        )
    assert early.value.field == "entry_id"
    assert "2026-09-01" in early.value.message
    refund = rectification_entry(
        original, [original], on_time=True, source_event_id="r", occurred_at=T0, policy=P, now=T0
    )
    assert refund is not None
    at = T0 + timedelta(days=200)
    repair = repair_entry(original, [original, refund], made_under=P, policy=P, now=at, note="n")
    assert repair.points == 10  # -20 + 10 refunded: 10 left
    assert evaluate([original, refund, repair], P, at).balance == 0
    assert evaluate([original, refund, repair], P, at - timedelta(days=1)).balance == -10
    with pytest.raises(RuleViolation):
        repair_entry(original, [original, refund, repair], made_under=P, policy=P, now=at, note="")


def test_a_penalty_stops_counting_after_its_tier_maximum() -> None:
    for severity, months in ((Severity.LIGHT, 6), (Severity.GENERAL, 12), (Severity.SERIOUS, 36)):
        entry = penalty(1, severity)
        assert entry.counts_until is not None
        assert entry.counts_until == P.start_of(add_months(date(2026, 3, 1), months))
        assert entry.counts_at(entry.counts_until - timedelta(seconds=1))
        assert not entry.counts_at(entry.counts_until)


def test_five_good_needs_all_criteria_and_is_vetoed_by_a_serious_record() -> None:
    award = five_good_entry(
        SUBJECT,
        year=2026,
        criteria=ALL_CRITERIA,
        records=[],
        source_event_id="fg",
        policy=P,
        now=T0,
    )
    assert award.points == 100
    with pytest.raises(RuleViolation) as missing:
        five_good_entry(
            SUBJECT,
            year=2026,
            criteria={**ALL_CRITERIA, "modern_customs": False},
            records=[],
            source_event_id="fg",
            policy=P,
            now=T0,
        )
    assert missing.value.field == "criteria.modern_customs"
    serious = penalty(2, Severity.SERIOUS)
    with pytest.raises(RuleViolation) as vetoed:
        five_good_entry(
            SUBJECT,
            year=2026,
            criteria=ALL_CRITERIA,
            records=[serious],
            source_event_id="fg",
            policy=P,
            now=T0,
        )
    assert str(serious.id) in vetoed.value.message
    # A general record does not veto; an overturned serious one no longer does.
    overturned = appeal_reversals(serious, [serious], appeal_id=uuid.uuid4(), policy=P, now=T0)
    five_good_entry(
        SUBJECT,
        year=2026,
        criteria=ALL_CRITERIA,
        records=[penalty(3, Severity.GENERAL), serious, *overturned],
        source_event_id="fg",
        policy=P,
        now=T0,
    )


def test_volunteer_hours_are_capped_per_year() -> None:
    cap = P.caps_for("volunteer.service")
    first = volunteer_entry(
        SUBJECT,
        hours=20,
        served_on=date(2026, 2, 1),
        activity="patrol",
        source_event_id="v1",
        policy=P,
        now=T0,
        cap_totals=[(c, 0) for c in cap],
    )
    assert first.points == 40
    second = volunteer_entry(
        SUBJECT,
        hours=20,
        served_on=date(2026, 2, 2),
        activity="patrol",
        source_event_id="v2",
        policy=P,
        now=T0,
        cap_totals=[(c, 40) for c in cap],
    )
    assert second.points == 10
    assert second.cause["capped_from"] == 40
    with pytest.raises(RuleViolation) as future:
        volunteer_entry(
            SUBJECT,
            hours=1,
            served_on=date(2026, 3, 2),
            activity="x",
            source_event_id="v3",
            policy=P,
            now=T0,
        )
    assert future.value.field == "served_on"


def test_appeals_are_open_for_the_filing_window_once_at_a_time() -> None:
    original = penalty(1)
    appeal = file_appeal(
        original, [original], [], grounds="not ours", filed_by="staff:x", policy=P, now=T0
    )
    assert appeal.decide_by == date(2026, 3, 16)
    assert not appeal.overdue(date(2026, 3, 16))
    assert appeal.overdue(date(2026, 3, 17))
    with pytest.raises(AppealConflict):
        file_appeal(
            original, [original], [appeal], grounds="again", filed_by="staff:x", policy=P, now=T0
        )
    with pytest.raises(RuleViolation) as late:
        file_appeal(
            original,
            [original],
            [],
            grounds="late",
            filed_by="staff:x",
            policy=P,
            now=T0 + timedelta(days=40),
        )
    assert late.value.field == "entry_id"
    decided = appeal.decide("rejected", reason="evidence holds", decided_by="o", now=T0)
    with pytest.raises(AppealConflict):
        decided.decide("upheld", reason="changed mind", decided_by="o", now=T0)


def test_consent_rule_of_the_default_policy() -> None:
    house, org = CreditSubjectKind.HOUSEHOLD, CreditSubjectKind.ORGANISATION
    assert P.scoring_refusal(house, "granted") is None
    assert P.scoring_refusal(house, "unrecorded") is None  # for now: missing consent allows
    refusal = P.scoring_refusal(house, "declined")
    assert refusal is not None and "consent" in refusal
    assert P.scoring_refusal(org, "declined") is None


def test_a_policy_makes_a_rule_personal_from_its_version_on() -> None:
    personal = POLICIES.version("2026.2")
    assert personal.effective_from == date(2026, 7, 1)
    assert personal.is_personal("points.volunteer.per_hour") and not P.is_personal(
        "points.volunteer.per_hour"
    )
    assert personal.personal_counts_toward_household
    resident = CreditSubjectKind.RESIDENT
    assert personal.scoring_refusal(resident, "granted") is None
    refusal = personal.scoring_refusal(resident, "declined")
    assert refusal is not None and "household's consent" in refusal


def test_only_rules_about_one_person_can_be_personal() -> None:
    raw = _raw_policy()
    raw["personal"] = {
        "rules": ["points.inspection_failed.general"],
        "count_toward_household": True,
    }
    with pytest.raises(PolicyError) as error:
        policy_from_mapping(raw)
    assert error.value.field == "personal.rules"
    raw["personal"] = {"rules": ["points.volunteer.per_hour"]}
    with pytest.raises(PolicyError) as error:
        policy_from_mapping(raw)
    assert error.value.field == "personal.count_toward_household"
