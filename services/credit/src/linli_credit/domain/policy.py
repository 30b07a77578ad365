"""The scoring policy as data: points, caps, bounds, grades, repair periods, consent, green channel.

Policies live in versioned TOML files (`linli_credit/policies/*.toml`, reviewed in pull requests),
parsed with the standard library's `tomllib` and validated by `PolicyFile` (a pydantic model of
the document) when the app loads them (`load_policy_book`). A version applies from its effective
date; entries keep the version they were made under. Pure Python: no I/O here except `load_*`,
which reads the files it is given (nothing at import time).
"""

from __future__ import annotations

import tomllib
from calendar import monthrange
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

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
    """The same day `months` later, clamped to the month's last day (31 Jan + 1 = 28/29 Feb).

    OverflowError, as date arithmetic gives, when that month is outside the calendar."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    if not MINYEAR <= year <= MAXYEAR:
        raise OverflowError(f"{months} months after {day} is outside the calendar")
    return date(year, month + 1, min(day.day, monthrange(year, month + 1)[1]))


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
#
# A policy file is read through `PolicyFile`, a pydantic model of the TOML document: each key's
# type and bounds are declared once; the first error becomes a `PolicyError` naming the key.

Grade = Literal["AAA", "AA", "A", "B", "C"]
Count = Annotated[StrictInt, Field(ge=0)]
Percent = Annotated[StrictInt, Field(ge=0, le=100)]
Penalty = Annotated[StrictInt, Field(le=0)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True)


class _Score(_Section):
    base: StrictInt
    min: StrictInt
    max: StrictInt

    @model_validator(mode="after")
    def _ordered(self) -> _Score:
        if not self.min <= self.base <= self.max:
            raise ValueError("needs min <= base <= max")
        return self


class _Grades(_Section):
    """The lowest score that still earns each grade; below B: C."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    AAA: StrictInt
    AA: StrictInt
    A: StrictInt
    B: StrictInt

    @model_validator(mode="after")
    def _falling(self) -> _Grades:
        if not self.AAA > self.AA > self.A > self.B:
            raise ValueError("floors must fall strictly from AAA to B")
        return self

    def floors(self) -> tuple[tuple[str, int], ...]:
        return (("AAA", self.AAA), ("AA", self.AA), ("A", self.A), ("B", self.B))


class _Consent(_Section):
    households_require_consent: StrictBool
    unrecorded_allows_scoring: StrictBool


class _Tiers(_Section):
    light: Penalty
    general: Penalty
    serious: Penalty


class _Rectification(_Section):
    on_time_refund_percent: Percent
    late_penalty_percent: Percent


class _Volunteer(_Section):
    per_hour: Count


class _FiveGood(_Section):
    award: Count
    veto_severities: list[Severity]


class _Points(_Section):
    inspection_failed: _Tiers
    rectification: _Rectification
    volunteer: _Volunteer
    five_good_family: _FiveGood


class _Personal(_Section):
    """Which rules are personal, and whether a personal entry also counts toward the household."""

    rules: frozenset[StrictStr]
    count_toward_household: StrictBool

    @field_validator("rules")
    @classmethod
    def _capable(cls, rules: frozenset[str]) -> frozenset[str]:
        if not rules <= PERSONAL_CAPABLE_RULES:
            raise ValueError(
                f"rules {sorted(rules - PERSONAL_CAPABLE_RULES)} cannot be personal "
                f"(only {', '.join(sorted(PERSONAL_CAPABLE_RULES))})"
            )
        return rules


class _Rewards(_Section):
    counts_months: Count


class _Period(_Section):
    min_months: Count
    max_months: Count

    @model_validator(mode="after")
    def _ordered(self) -> _Period:
        if self.min_months > self.max_months:
            raise ValueError("needs 0 <= min_months <= max_months")
        return self


class _Repair(_Section):
    light: _Period
    general: _Period
    serious: _Period


class _Cap(_Section):
    name: Annotated[StrictStr, Field(min_length=1)]
    reasons: list[StrictStr]
    period: Period
    max_points: Count


class _GreenChannel(_Section):
    grades: frozenset[Grade]
    valid_days: Count
    evaluate_every_days: Count


class _Appeals(_Section):
    file_within_days: Count
    decide_within_days: Count


class _Reports(_Section):
    red_list_grades: frozenset[Grade]
    black_list_grades: frozenset[Grade]


class PolicyFile(_Section):
    """A policy file as written (`policies/*.toml`); `policy()` is the domain's `Policy`."""

    version: Annotated[StrictStr, Field(min_length=1)]
    time_zone: Annotated[StrictStr, Field(min_length=1)]
    effective_from: date = Field(strict=True, description="A TOML local date, e.g. 2026-01-01")
    score: _Score
    grades: _Grades
    consent: _Consent
    points: _Points
    personal: _Personal | None = None
    rewards: _Rewards
    repair: _Repair
    caps: list[_Cap]
    green_channel: _GreenChannel
    appeals: _Appeals
    reports: _Reports

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {zone!r}") from error
        return zone

    def policy(self) -> Policy:
        points, personal = self.points, self.personal
        return Policy(
            version=self.version,
            effective_from=self.effective_from,
            time_zone=self.time_zone,
            base_score=self.score.base,
            min_score=self.score.min,
            max_score=self.score.max,
            grade_floors=self.grades.floors(),
            failed_inspection_points={
                Severity.LIGHT: points.inspection_failed.light,
                Severity.GENERAL: points.inspection_failed.general,
                Severity.SERIOUS: points.inspection_failed.serious,
            },
            households_require_consent=self.consent.households_require_consent,
            unrecorded_consent_allows_scoring=self.consent.unrecorded_allows_scoring,
            on_time_refund_percent=points.rectification.on_time_refund_percent,
            late_penalty_percent=points.rectification.late_penalty_percent,
            volunteer_points_per_hour=points.volunteer.per_hour,
            five_good_points=points.five_good_family.award,
            five_good_veto_severities=frozenset(points.five_good_family.veto_severities),
            reward_counts_months=self.rewards.counts_months,
            repair={
                Severity.LIGHT: RepairPeriod(
                    self.repair.light.min_months, self.repair.light.max_months
                ),
                Severity.GENERAL: RepairPeriod(
                    self.repair.general.min_months, self.repair.general.max_months
                ),
                Severity.SERIOUS: RepairPeriod(
                    self.repair.serious.min_months, self.repair.serious.max_months
                ),
            },
            caps=tuple(
                Cap(
                    name=cap.name,
                    reasons=frozenset(cap.reasons),
                    period=cap.period,
                    max_points=cap.max_points,
                )
                for cap in self.caps
            ),
            green_channel_grades=frozenset(self.green_channel.grades),
            green_channel_valid_days=self.green_channel.valid_days,
            green_channel_evaluate_every_days=self.green_channel.evaluate_every_days,
            appeal_file_within_days=self.appeals.file_within_days,
            appeal_decide_within_days=self.appeals.decide_within_days,
            red_list_grades=frozenset(self.reports.red_list_grades),
            black_list_grades=frozenset(self.reports.black_list_grades),
            personal_rules=frozenset() if personal is None else personal.rules,
            personal_counts_toward_household=(
                False if personal is None else personal.count_toward_household
            ),
        )


def policy_from_mapping(raw: Mapping[str, Any]) -> Policy:
    """Build and validate a policy from a parsed TOML document; an error names the key."""
    try:
        return PolicyFile.model_validate(raw).policy()
    except ValidationError as error:
        first = error.errors()[0]
        raise PolicyError(_key(first["loc"]), first["msg"].removeprefix("Value error, ")) from error


def load_policy(path: Path) -> Policy:
    with path.open("rb") as file:
        return policy_from_mapping(tomllib.load(file))


def load_policy_book(directory: Path = POLICY_DIR) -> PolicyBook:
    """Every policy version in `directory` (the shipped ones by default)."""
    return PolicyBook(tuple(load_policy(path) for path in sorted(directory.glob("*.toml"))))


def _key(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as the dotted TOML key (`caps[0].period`, `grades`)."""
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else part
    return key
