"""Accounts and their immutable entries, and the rules that decide which entry a cause makes.

A subject's score is the policy applied to its *counting* entries: clamp(base + sum of points).
An entry counts from when it took effect (its occurred-at, or its recorded-at if that is earlier)
until the date it stops counting. Corrections never edit an entry: they add reversing entries
that point at the original (`refers_to`), dated to it where the effect must be retroactive.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from linli_credit.domain.policy import Cap, Consent, Policy
from linli_shared.contracts.common import Severity
from linli_shared.contracts.credit import CreditSubjectKind
from linli_shared.rules import RuleViolation

# Reason codes: what made an entry.
FAILED_INSPECTION = "inspection.failed"
RECTIFICATION_REFUND = "rectification.refund"
RECTIFICATION_LATE = "rectification.late"
VOLUNTEER = "volunteer.service"
FIVE_GOOD = "five_good_family.award"
REPAIR = "repair.applied"
APPEAL_REVERSAL = "appeal.reversal"

# The policy rule of volunteer service (a policy may make it personal).
VOLUNTEER_RULE = "points.volunteer.per_hour"

# Penalties a subject may appeal against or apply to repair.
PENALTIES = frozenset({FAILED_INSPECTION, RECTIFICATION_LATE})

FIVE_GOOD_CRITERIA = (
    "patriotic_law_abiding_public_spirited",
    "learning_and_dedicated_at_work",
    "equality_respect_for_elders_good_neighbours",
    "modern_customs",
    "thrift_and_environmental_protection",
)

_ENTRY_IDS = uuid.UUID("6c1b7d0e-2f4c-5a8e-9b1d-3e5f7a9c1b2d")


def entry_id_for(source_event_id: str) -> uuid.UUID:
    """Entries are named by their cause, so replaying a cause names the same entry."""
    return uuid.uuid5(_ENTRY_IDS, source_event_id)


@dataclass(frozen=True)
class Entry:
    id: uuid.UUID
    subject_id: uuid.UUID
    points: int
    reason_code: str
    policy_version: str
    source_event_id: str
    severity: Severity | None
    occurred_at: datetime
    recorded_at: datetime
    rule: str = ""
    counts_until: datetime | None = None
    refers_to: uuid.UUID | None = None
    inspection_id: uuid.UUID | None = None
    cause: Mapping[str, Any] = field(default_factory=dict)

    @property
    def effective_from(self) -> datetime:
        return min(self.occurred_at, self.recorded_at)

    def counts_at(self, at: datetime) -> bool:
        return self.effective_from <= at and (self.counts_until is None or at < self.counts_until)

    @property
    def is_penalty(self) -> bool:
        return self.reason_code in PENALTIES


@dataclass(frozen=True)
class Account:
    """The projection of one subject's ledger: kept up to date per entry, rebuilt from it."""

    subject_id: uuid.UUID
    subject_kind: CreditSubjectKind
    score: int
    grade: str
    opened_at: datetime
    balance: int = 0
    policy_version: str = ""
    community_id: str | None = None
    consent: Consent = "unrecorded"
    closed_at: datetime | None = None
    green_channel: bool = False
    green_evaluated_at: datetime | None = None
    green_valid_until: date | None = None
    # A resident's household (its consent is the resident's); a household's last applied
    # members-changed version (an older one changes no resident account).
    household_id: uuid.UUID | None = None
    members_version: int = 0
    # Where the registry places the subject (a resident: its household's grid); grid workers
    # see and act on the subjects of their grids only.
    grid_id: str | None = None

    @classmethod
    def open(
        cls,
        subject_id: uuid.UUID,
        subject_kind: CreditSubjectKind,
        policy: Policy,
        now: datetime,
        *,
        community_id: str | None = None,
        consent: Consent = "unrecorded",
        household_id: uuid.UUID | None = None,
        grid_id: str | None = None,
    ) -> Account:
        return cls(
            subject_id=subject_id,
            subject_kind=subject_kind,
            score=policy.base_score,
            grade=policy.grade(policy.base_score),
            opened_at=now,
            balance=0,
            policy_version=policy.version,
            community_id=community_id,
            consent=consent,
            household_id=household_id,
            grid_id=grid_id,
        )

    def post(self, entry: Entry, policy: Policy, now: datetime | None = None) -> Account:
        """The account after a new entry (which moves the balance only if it counts now)."""
        counts = entry.counts_at(now if now is not None else entry.recorded_at)
        return self.rescore(self.balance + (entry.points if counts else 0), policy)

    def rescore(self, balance: int, policy: Policy) -> Account:
        score = policy.score(balance)
        return replace(
            self,
            balance=balance,
            score=score,
            grade=policy.grade(score),
            policy_version=policy.version,
        )

    def refusal(self, policy: Policy) -> str | None:
        """Why new causes make no entry for this subject, or None when it is scored."""
        if self.closed_at is not None:
            if self.subject_kind is CreditSubjectKind.RESIDENT:
                why = "the resident left the household, or it was deregistered"
            else:
                why = "deregistration"
            return f"the account was closed at {self.closed_at.isoformat()} ({why})"
        return policy.scoring_refusal(self.subject_kind, self.consent)

    def holds_green_channel(self, today: date) -> bool:
        return (
            self.green_channel
            and self.green_valid_until is not None
            and today <= self.green_valid_until
        )


@dataclass(frozen=True)
class Evaluation:
    """A subject's score and grade at a point in time, with the entries that made it."""

    at: datetime
    policy: Policy
    balance: int
    score: int
    grade: str
    counting: tuple[Entry, ...]


def evaluate(
    entries: Iterable[Entry], policy: Policy, at: datetime, known_at: datetime | None = None
) -> Evaluation:
    """The policy applied to the entries counting at `at` (as recorded by `known_at`, if given)."""
    counting = tuple(
        e for e in entries if e.counts_at(at) and (known_at is None or e.recorded_at <= known_at)
    )
    balance = sum(e.points for e in counting)
    score = policy.score(balance)
    return Evaluation(at, policy, balance, score, policy.grade(score), counting)


def score_of(entries: Iterable[Entry], policy: Policy) -> int:
    """The score the entries make when all of them count: clamp(base + sum)."""
    return policy.score(sum(e.points for e in entries))


# --- caps ------------------------------------------------------------------------------------


def capped(raw: int, used: Sequence[tuple[Cap, int]]) -> tuple[int, list[str]]:
    """`raw` points cut to what each cap's period still allows, and the caps that cut."""
    points, hit = raw, []
    for cap, total in used:
        room = max(0, cap.max_points - abs(total))
        if abs(points) > room:
            points = room if points > 0 else -room
            hit.append(cap.name)
    return points, hit


def _with_caps(
    raw: int, used: Sequence[tuple[Cap, int]], cause: Mapping[str, Any]
) -> tuple[int, dict[str, Any]]:
    points, hit = capped(raw, used)
    explained = dict(cause)
    if hit:
        explained["capped_from"] = raw
        explained["caps"] = hit
    return points, explained


# --- entries from causes ---------------------------------------------------------------------


def failed_inspection_entry(
    account: Account,
    *,
    severity: Severity,
    source_event_id: str,
    occurred_at: datetime,
    policy: Policy,
    now: datetime,
    inspection_id: uuid.UUID | None = None,
    cause: Mapping[str, Any] | None = None,
    cap_totals: Sequence[tuple[Cap, int]] = (),
) -> Entry:
    raw = policy.points_for_failed_inspection(severity)
    points, explained = _with_caps(raw, cap_totals, cause or {})
    return Entry(
        id=entry_id_for(source_event_id),
        subject_id=account.subject_id,
        points=points,
        reason_code=FAILED_INSPECTION,
        policy_version=policy.version,
        source_event_id=source_event_id,
        severity=severity,
        occurred_at=occurred_at,
        recorded_at=now,
        rule=f"points.inspection_failed.{severity.value}",
        counts_until=policy.counts_until(severity, points, occurred_at),
        inspection_id=inspection_id,
        cause=explained,
    )


def children(entry: Entry, entries: Iterable[Entry]) -> list[Entry]:
    return [e for e in entries if e.refers_to == entry.id]


def rectification_entry(
    original: Entry,
    related: Iterable[Entry],
    *,
    on_time: bool,
    source_event_id: str,
    occurred_at: datetime,
    policy: Policy,
    now: datetime,
    cause: Mapping[str, Any] | None = None,
    cap_totals: Sequence[tuple[Cap, int]] = (),
) -> Entry | None:
    """Part of a penalty back for an on-time fix, or a further penalty for a late one.

    The first outcome of a penalty settles it: nothing more once it has a refund or a late
    penalty, or has been repaired or overturned on appeal; nothing for a penalty of 0 points
    (capped) or one that no longer counts.
    """
    if original.reason_code != FAILED_INSPECTION or original.points >= 0:
        return None
    if not original.counts_at(now) or children(original, related):
        return None
    penalty = -original.points
    if on_time:
        points = penalty * policy.on_time_refund_percent // 100
        explained = dict(cause or {})
        reason, rule = RECTIFICATION_REFUND, "points.rectification.on_time_refund_percent"
        counts_until = original.counts_until
    else:
        raw = -(-(penalty * policy.late_penalty_percent) // 100)  # ceil: a late fix costs
        points, explained = _with_caps(-raw, cap_totals, cause or {})
        reason, rule = RECTIFICATION_LATE, "points.rectification.late_penalty_percent"
        counts_until = policy.counts_until(original.severity, points, occurred_at)
    return Entry(
        id=entry_id_for(source_event_id),
        subject_id=original.subject_id,
        points=points,
        reason_code=reason,
        policy_version=policy.version,
        source_event_id=source_event_id,
        severity=original.severity,
        occurred_at=occurred_at,
        recorded_at=now,
        rule=rule,
        counts_until=counts_until,
        refers_to=original.id,
        inspection_id=original.inspection_id,
        cause=explained,
    )


def volunteer_entry(
    subject_id: uuid.UUID,
    *,
    hours: int,
    served_on: date,
    activity: str,
    source_event_id: str,
    policy: Policy,
    now: datetime,
    resident: str | None = None,
    cap_totals: Sequence[tuple[Cap, int]] = (),
) -> Entry:
    if hours <= 0:
        raise RuleViolation("hours", "must be at least one hour")
    occurred_at = policy.start_of(served_on)
    if occurred_at > now:
        raise RuleViolation("served_on", "volunteer service cannot be recorded before it happens")
    cause: dict[str, Any] = {"hours": hours, "activity": activity, "served_on": str(served_on)}
    if resident:
        cause["resident"] = resident
    points, explained = _with_caps(hours * policy.volunteer_points_per_hour, cap_totals, cause)
    return Entry(
        id=entry_id_for(source_event_id),
        subject_id=subject_id,
        points=points,
        reason_code=VOLUNTEER,
        policy_version=policy.version,
        source_event_id=source_event_id,
        severity=None,
        occurred_at=occurred_at,
        recorded_at=now,
        rule=VOLUNTEER_RULE,
        counts_until=policy.counts_until(None, points, occurred_at),
        cause=explained,
    )


def five_good_disqualifiers(entries: Iterable[Entry], year: int, policy: Policy) -> list[Entry]:
    """Penalties of a vetoing severity that occurred in the award year and were not overturned."""
    entries = list(entries)
    overturned = {e.refers_to for e in entries if e.reason_code == APPEAL_REVERSAL}
    return [
        e
        for e in entries
        if e.is_penalty
        and e.severity in policy.five_good_veto_severities
        and policy.local_date(e.occurred_at).year == year
        and e.id not in overturned
    ]


def five_good_entry(
    subject_id: uuid.UUID,
    *,
    year: int,
    criteria: Mapping[str, bool],
    records: Iterable[Entry],
    source_event_id: str,
    policy: Policy,
    now: datetime,
) -> Entry:
    for criterion in FIVE_GOOD_CRITERIA:
        if not criteria.get(criterion, False):
            raise RuleViolation(f"criteria.{criterion}", "all five criteria must be met")
    if year > policy.local_date(now).year:
        raise RuleViolation("year", "an award cannot be for a future year")
    vetoes = five_good_disqualifiers(records, year, policy)
    if vetoes:
        listed = ", ".join(f"{e.id} ({e.severity}, {e.reason_code})" for e in vetoes)
        raise RuleViolation(
            "subject_id", f"a disqualifying record in {year} vetoes the award: {listed}"
        )
    points = policy.five_good_points
    return Entry(
        id=entry_id_for(source_event_id),
        subject_id=subject_id,
        points=points,
        reason_code=FIVE_GOOD,
        policy_version=policy.version,
        source_event_id=source_event_id,
        severity=None,
        occurred_at=now,
        recorded_at=now,
        rule="points.five_good_family.award",
        counts_until=policy.counts_until(None, points, now),
        cause={"award": "five_good_family", "year": year, "criteria": list(FIVE_GOOD_CRITERIA)},
    )


def repair_entry(
    target: Entry,
    related: Iterable[Entry],
    *,
    made_under: Policy,
    policy: Policy,
    now: datetime,
    note: str,
) -> Entry:
    """The entry that repairs a penalty on application: what is left of it stops counting now.

    The repair period is the one of the policy the penalty was made under.
    """
    if not target.is_penalty or target.severity is None:
        raise RuleViolation("entry_id", "only penalties can be repaired")
    below = children(target, related)
    if any(e.reason_code in (REPAIR, APPEAL_REVERSAL) for e in below):
        raise RuleViolation("entry_id", "this entry was already repaired or overturned")
    if not target.counts_at(now):
        raise RuleViolation("entry_id", "this entry no longer counts")
    repairable_from = made_under.repairable_from(target.severity, target.occurred_at)
    if now < repairable_from:
        day = made_under.local_date(repairable_from)
        raise RuleViolation(
            "entry_id",
            f"a {target.severity.value} entry can be repaired from {day} "
            f"(repair.{target.severity.value}.min_months of policy {made_under.version})",
        )
    left = target.points + sum(e.points for e in below if e.reason_code == RECTIFICATION_REFUND)
    if left >= 0:
        raise RuleViolation("entry_id", "nothing of this penalty is left to repair")
    source = f"repair:{target.id}"
    return Entry(
        id=entry_id_for(source),
        subject_id=target.subject_id,
        points=-left,
        reason_code=REPAIR,
        policy_version=policy.version,
        source_event_id=source,
        severity=target.severity,
        occurred_at=now,
        recorded_at=now,
        rule=f"repair.{target.severity.value}.min_months",
        counts_until=target.counts_until,
        refers_to=target.id,
        inspection_id=target.inspection_id,
        cause={"note": note, "repairable_from": repairable_from.isoformat()},
    )


def appeal_reversals(
    target: Entry, related: Iterable[Entry], *, appeal_id: uuid.UUID, policy: Policy, now: datetime
) -> list[Entry]:
    """Upholding an appeal undoes the entry and everything that followed from it, retroactively.

    Each reversal mirrors one entry: opposite points, dated to when that entry took effect,
    counting until it stopped counting, so at every point in time the pair nets to zero.
    """
    related = list(related)
    overturned = {e.refers_to for e in related if e.reason_code == APPEAL_REVERSAL}
    todo, chain = [target], []
    while todo:
        entry = todo.pop(0)
        if entry.reason_code == APPEAL_REVERSAL:
            continue
        chain.append(entry)
        todo.extend(children(entry, related))
    reversals = []
    for entry in chain:
        if entry.id in overturned or entry.points == 0:
            continue
        source = f"appeal:{appeal_id}:{entry.id}"
        reversals.append(
            Entry(
                id=entry_id_for(source),
                subject_id=entry.subject_id,
                points=-entry.points,
                reason_code=APPEAL_REVERSAL,
                policy_version=policy.version,
                source_event_id=source,
                severity=entry.severity,
                occurred_at=entry.effective_from,
                recorded_at=now,
                rule="appeals.upheld",
                counts_until=entry.counts_until,
                refers_to=entry.id,
                inspection_id=entry.inspection_id,
                cause={"appeal_id": str(appeal_id), "reverses": str(entry.id)},
            )
        )
    return reversals


def net_of(entry: Entry, related: Iterable[Entry]) -> int:
    """What is left of an entry with the entries that reverse parts of it."""
    reversing = (RECTIFICATION_REFUND, REPAIR, APPEAL_REVERSAL)
    return entry.points + sum(
        e.points for e in children(entry, related) if e.reason_code in reversing
    )
