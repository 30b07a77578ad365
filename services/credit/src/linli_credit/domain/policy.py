"""The scoring policy as data: points, caps, bounds, grades, repair periods, consent, green channel.

Policies live in versioned TOML files (`linli_credit/policies/*.toml`, reviewed in pull requests)
and are loaded with the standard library's `tomllib`. A version applies from its effective date;
entries keep the version they were made under. Pure Python: no I/O here except `load_*`, which
reads the files it is given.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from linli_shared.contracts.common import Severity
from linli_shared.contracts.credit import CreditSubjectKind
from linli_shared.rules import RuleViolation

GRADES = ("AAA", "AA", "A", "B", "C")
POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"

# Rules whose cause is one person's act, so a policy may make them personal: recorded on the
# resident who acted rather than on the household (inspections judge a household or organisation).
PERSONAL_CAPABLE_RULES = frozenset({"points.volunteer.per_hour"})

Period = Literal["month", "quarter", "year"]
Consent = Literal["granted", "declined", "unrecorded"]


class PolicyError(RuleViolation):
    """A policy file that breaks a rule; `field` names the offending key."""


@dataclass(frozen=True)
class RepairPeriod:
    """How long a penalty of one severity tier counts, and when it may be repaired."""

    min_months: int
    max_months: int


@dataclass(frozen=True)
class Cap:
    """Entries with these reasons move a score at most `max_points` (absolute) per period."""

    name: str
    reasons: frozenset[str]
    period: Period
    max_points: int


def _default_repair() -> dict[Severity, RepairPeriod]:
    return {
        Severity.LIGHT: RepairPeriod(3, 6),
        Severity.GENERAL: RepairPeriod(6, 12),
        Severity.SERIOUS: RepairPeriod(12, 36),
    }


@dataclass(frozen=True)
class Policy:
    version: str
    base_score: int
    min_score: int
    max_score: int
    # Lowest score that still earns each grade, best grade first; below the last: "C".
    grade_floors: tuple[tuple[str, int], ...]
    failed_inspection_points: dict[Severity, int] = field(default_factory=dict)
    effective_from: date = date(2000, 1, 1)
    time_zone: str = "Asia/Shanghai"
    households_require_consent: bool = True
    unrecorded_consent_allows_scoring: bool = True
    on_time_refund_percent: int = 50
    late_penalty_percent: int = 50
    volunteer_points_per_hour: int = 2
    five_good_points: int = 100
    five_good_veto_severities: frozenset[Severity] = frozenset({Severity.SERIOUS})
    reward_counts_months: int = 24
    repair: dict[Severity, RepairPeriod] = field(default_factory=_default_repair)
    caps: tuple[Cap, ...] = ()
    green_channel_grades: frozenset[str] = frozenset({"AAA", "AA"})
    green_channel_valid_days: int = 30
    green_channel_evaluate_every_days: int = 1
    appeal_file_within_days: int = 30
    appeal_decide_within_days: int = 15
    red_list_grades: frozenset[str] = frozenset({"AAA"})
    black_list_grades: frozenset[str] = frozenset({"C"})
    # Rules recorded on the resident's own account; whether such an entry also counts toward the
    # resident's household (as a household entry of its own that names the resident's entry).
    personal_rules: frozenset[str] = frozenset()
    personal_counts_toward_household: bool = False

    # --- score and grade -------------------------------------------------------------------

    def clamp(self, score: int) -> int:
        return max(self.min_score, min(self.max_score, score))

    def score(self, balance: int) -> int:
        """The score of a subject whose counting entries sum to `balance`."""
        return self.clamp(self.base_score + balance)

    def grade(self, score: int) -> str:
        for grade, floor in self.grade_floors:
            if score >= floor:
                return grade
        return GRADES[-1]

    def points_for_failed_inspection(self, severity: Severity) -> int:
        return self.failed_inspection_points[severity]

    # --- consent and the green channel -------------------------------------------------------

    def is_personal(self, rule: str) -> bool:
        return rule in self.personal_rules

    def scoring_refusal(self, kind: CreditSubjectKind, consent: Consent) -> str | None:
        """Why this subject gets no entries under this policy, or None when it is scored.

        A resident is scored under their household's consent (`consent` is the household's)."""
        if kind is CreditSubjectKind.ORGANISATION or not self.households_require_consent:
            return None
        if consent == "granted":
            return None
        if consent == "unrecorded" and self.unrecorded_consent_allows_scoring:
            return None
        what = "declined" if consent == "declined" else "not recorded"
        whom = (
            "a household only with its consent"
            if kind is CreditSubjectKind.HOUSEHOLD
            else "a resident only with their household's consent"
        )
        return (
            f"policy {self.version} scores {whom} to integrity scoring, "
            f"and the registry has it as {what}"
        )

    def green_channel_for(self, grade: str) -> bool:
        return grade in self.green_channel_grades

    # --- local calendar ------------------------------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def local_date(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def start_of(self, day: date) -> datetime:
        """The instant (UTC) a local day begins."""
        return datetime.combine(day, time(0), self.zone).astimezone(UTC)

    def months_after(self, at: datetime, months: int) -> datetime:
        """Local midnight starting the day `months` calendar months after `at`'s local date."""
        return self.start_of(add_months(self.local_date(at), months))

    def period_bounds(self, period: Period, at: datetime) -> tuple[datetime, datetime]:
        """The local calendar month, quarter or year containing `at`, as UTC instants."""
        day = self.local_date(at)
        if period == "month":
            first = day.replace(day=1)
            months = 1
        elif period == "quarter":
            first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
            months = 3
        else:
            first = date(day.year, 1, 1)
            months = 12
        return self.start_of(first), self.start_of(add_months(first, months))

    # --- periods of entries ----------------------------------------------------------------

    def counts_until(
        self, severity: Severity | None, points: int, occurred_at: datetime
    ) -> datetime:
        """When a new entry stops counting: its tier's maximum period, or the reward period."""
        if severity is not None and points <= 0:
            return self.months_after(occurred_at, self.repair[severity].max_months)
        return self.months_after(occurred_at, self.reward_counts_months)

    def repairable_from(self, severity: Severity, occurred_at: datetime) -> datetime:
        return self.months_after(occurred_at, self.repair[severity].min_months)

    def caps_for(self, reason_code: str) -> list[Cap]:
        return [cap for cap in self.caps if reason_code in cap.reasons]


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_month = date(year + (month == 12), month % 12 + 1, 1)
    last = (next_month - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


@dataclass(frozen=True)
class PolicyBook:
    """Every policy version, by effective date: which applies when, and which made an entry."""

    policies: tuple[Policy, ...]

    def __post_init__(self) -> None:
        if not self.policies:
            raise PolicyError("policies", "at least one policy version is needed")
        ordered = tuple(sorted(self.policies, key=lambda p: p.effective_from))
        versions = [p.version for p in ordered]
        if len(set(versions)) != len(versions):
            raise PolicyError("version", f"duplicate policy versions: {versions}")
        dates = [p.effective_from for p in ordered]
        if len(set(dates)) != len(dates):
            raise PolicyError("effective_from", "two versions take effect on the same date")
        object.__setattr__(self, "policies", ordered)

    def at(self, instant: datetime) -> Policy:
        """The version in effect at `instant` (by the local date); the first one before it."""
        current = self.policies[0]
        for policy in self.policies:
            if policy.local_date(instant) >= policy.effective_from:
                current = policy
        return current

    def version(self, version: str) -> Policy:
        for policy in self.policies:
            if policy.version == version:
                return policy
        raise PolicyError("policy_version", f"unknown policy version {version!r}")

    @property
    def versions(self) -> list[str]:
        return [p.version for p in self.policies]


# --- loading ---------------------------------------------------------------------------------


def load_policy(path: Path) -> Policy:
    with path.open("rb") as file:
        return policy_from_mapping(tomllib.load(file))


def load_policy_book(directory: Path = POLICY_DIR) -> PolicyBook:
    return PolicyBook(tuple(load_policy(path) for path in sorted(directory.glob("*.toml"))))


def policy_from_mapping(raw: Mapping[str, Any]) -> Policy:
    """Build and validate a policy from a parsed TOML document; errors name the key."""
    doc = _Doc(raw)
    version = doc.text("version")
    zone = doc.text("time_zone")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise PolicyError("time_zone", f"unknown time zone {zone!r}") from error
    effective_from = doc.get("effective_from")
    if not isinstance(effective_from, date) or isinstance(effective_from, datetime):
        raise PolicyError("effective_from", "must be a TOML local date, e.g. 2026-01-01")
    base, low, high = doc.integer("score.base"), doc.integer("score.min"), doc.integer("score.max")
    if not low <= base <= high:
        raise PolicyError("score", "needs min <= base <= max")
    grades = doc.table("grades")
    if set(grades) != set(GRADES[:-1]):
        raise PolicyError("grades", f"needs exactly {', '.join(GRADES[:-1])} (below: C)")
    floors = [(grade, doc.integer(f"grades.{grade}")) for grade in GRADES[:-1]]
    if [f for _, f in floors] != sorted((f for _, f in floors), reverse=True) or len(
        {f for _, f in floors}
    ) != len(floors):
        raise PolicyError("grades", "floors must fall strictly from AAA to B")
    failed = {s: doc.integer(f"points.inspection_failed.{s.value}") for s in Severity}
    for severity, points in failed.items():
        if points > 0:
            raise PolicyError(f"points.inspection_failed.{severity.value}", "must be <= 0")
    repair: dict[Severity, RepairPeriod] = {}
    for severity in Severity:
        key = f"repair.{severity.value}"
        period = RepairPeriod(doc.integer(f"{key}.min_months"), doc.integer(f"{key}.max_months"))
        if not 0 <= period.min_months <= period.max_months:
            raise PolicyError(key, "needs 0 <= min_months <= max_months")
        repair[severity] = period
    caps = []
    for i, cap in enumerate(doc.array("caps")):
        item = _Doc(cap, f"caps[{i}].")
        cap_period = item.text("period")
        if cap_period not in ("month", "quarter", "year"):
            raise PolicyError(f"caps[{i}].period", "must be month, quarter or year")
        caps.append(
            Cap(
                name=item.text("name"),
                reasons=frozenset(item.strs("reasons")),
                period=cap_period,  # type: ignore[arg-type]  # checked above
                max_points=item.nonnegative("max_points"),
            )
        )
    green = frozenset(doc.strs("green_channel.grades"))
    red, black = (
        frozenset(doc.strs("reports.red_list_grades")),
        frozenset(doc.strs("reports.black_list_grades")),
    )
    for key, named in (
        ("green_channel.grades", green),
        ("reports.red_list_grades", red),
        ("reports.black_list_grades", black),
    ):
        if not named <= set(GRADES):
            raise PolicyError(key, f"unknown grades {sorted(named - set(GRADES))}")
    personal_rules, counts_toward_household = _personal(raw)
    return Policy(
        version=version,
        effective_from=effective_from,
        time_zone=zone,
        base_score=base,
        min_score=low,
        max_score=high,
        grade_floors=tuple(floors),
        failed_inspection_points=failed,
        households_require_consent=doc.flag("consent.households_require_consent"),
        unrecorded_consent_allows_scoring=doc.flag("consent.unrecorded_allows_scoring"),
        on_time_refund_percent=doc.percent("points.rectification.on_time_refund_percent"),
        late_penalty_percent=doc.percent("points.rectification.late_penalty_percent"),
        volunteer_points_per_hour=doc.nonnegative("points.volunteer.per_hour"),
        five_good_points=doc.nonnegative("points.five_good_family.award"),
        five_good_veto_severities=frozenset(
            _severity(s, "points.five_good_family.veto_severities")
            for s in doc.strs("points.five_good_family.veto_severities")
        ),
        reward_counts_months=doc.nonnegative("rewards.counts_months"),
        repair=repair,
        caps=tuple(caps),
        green_channel_grades=green,
        green_channel_valid_days=doc.nonnegative("green_channel.valid_days"),
        green_channel_evaluate_every_days=doc.nonnegative("green_channel.evaluate_every_days"),
        appeal_file_within_days=doc.nonnegative("appeals.file_within_days"),
        appeal_decide_within_days=doc.nonnegative("appeals.decide_within_days"),
        red_list_grades=red,
        black_list_grades=black,
        personal_rules=personal_rules,
        personal_counts_toward_household=counts_toward_household,
    )


def _personal(raw: Mapping[str, Any]) -> tuple[frozenset[str], bool]:
    """The optional `[personal]` table: which rules are personal, and whether a personal entry
    also counts toward the household. Without it, no rule is personal."""
    if "personal" not in raw:
        return frozenset(), False
    doc = _Doc(raw)
    rules = frozenset(doc.strs("personal.rules"))
    if not rules <= PERSONAL_CAPABLE_RULES:
        raise PolicyError(
            "personal.rules",
            f"rules {sorted(rules - PERSONAL_CAPABLE_RULES)} cannot be personal "
            f"(only {', '.join(sorted(PERSONAL_CAPABLE_RULES))})",
        )
    return rules, doc.flag("personal.count_toward_household")


def _severity(value: str, key: str) -> Severity:
    try:
        return Severity(value)
    except ValueError as error:
        raise PolicyError(key, f"unknown severity {value!r}") from error


class _Doc:
    """Typed access to a parsed TOML document by dotted key; errors name the key."""

    def __init__(self, raw: Mapping[str, Any], prefix: str = "") -> None:
        self._raw = raw
        self._prefix = prefix

    def get(self, key: str) -> Any:
        node: Any = self._raw
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise PolicyError(self._prefix + key, "is missing")
            node = node[part]
        return node

    def text(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str) or not value:
            raise PolicyError(self._prefix + key, "must be a non-empty string")
        return value

    def integer(self, key: str) -> int:
        value = self.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise PolicyError(self._prefix + key, "must be an integer")
        return value

    def nonnegative(self, key: str) -> int:
        value = self.integer(key)
        if value < 0:
            raise PolicyError(self._prefix + key, "must be >= 0")
        return value

    def percent(self, key: str) -> int:
        value = self.nonnegative(key)
        if value > 100:
            raise PolicyError(self._prefix + key, "must be a percentage, 0 to 100")
        return value

    def flag(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            raise PolicyError(self._prefix + key, "must be true or false")
        return value

    def table(self, key: str) -> Mapping[str, Any]:
        value = self.get(key)
        if not isinstance(value, Mapping):
            raise PolicyError(self._prefix + key, "must be a table")
        return value

    def array(self, key: str) -> list[Any]:
        value = self.get(key)
        if not isinstance(value, list):
            raise PolicyError(self._prefix + key, "must be an array")
        return value

    def strs(self, key: str) -> Iterable[str]:
        values = self.array(key)
        if not all(isinstance(v, str) for v in values):
            raise PolicyError(self._prefix + key, "must be an array of strings")
        return values


POLICIES = load_policy_book()
DEFAULT_POLICY = POLICIES.version("2026.1")
