"""Inspection schedules: recurring plans per target, counted per local week.

"At least twice a week" is per week in the community's time zone (Monday 00:00 local to the next
Monday). A week is evaluated once it is over: what was due, what was done, and so what was missed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from linli_shared.rules import RuleViolation

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Schedule:
    id: uuid.UUID
    target_kind: str
    target_id: str
    checklist: str
    times_per_week: int
    grid_id: str | None
    community_id: str | None
    created_at: datetime
    active: bool = True


@dataclass(frozen=True)
class WeekCoverage:
    schedule: Schedule
    week_starting: datetime
    due: int
    done: int

    @property
    def missed(self) -> int:
        return max(self.due - self.done, 0)


def plan(
    *,
    target_kind: str,
    target_id: str,
    checklist: str,
    times_per_week: int,
    grid_id: str | None,
    community_id: str | None,
    now: datetime,
) -> Schedule:
    if not 1 <= times_per_week <= 21:
        raise RuleViolation("times_per_week", "between 1 and 21 inspections a week")
    return Schedule(
        id=uuid.uuid4(),
        target_kind=target_kind,
        target_id=target_id,
        checklist=checklist,
        times_per_week=times_per_week,
        grid_id=grid_id,
        community_id=community_id,
        created_at=now,
    )


def week_start(at: datetime, zone: ZoneInfo) -> datetime:
    """Monday 00:00 local of the week `at` falls in, as an aware datetime in `zone`."""
    local = at.astimezone(zone)
    monday: date = local.date() - timedelta(days=local.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=zone)


def next_week(start: datetime) -> datetime:
    """The Monday after: calendar arithmetic on local dates (safe across DST changes)."""
    following = start.date() + WEEK
    return datetime(following.year, following.month, following.day, tzinfo=start.tzinfo)


def weeks_due_for_evaluation(
    schedule: Schedule, evaluated_until: datetime | None, now: datetime, zone: ZoneInfo
) -> list[datetime]:
    """Whole local weeks that are over and not yet evaluated.

    The week the schedule was created in counts only if it was created at its very start: a plan
    made on a Thursday is not missed for that week.
    """
    first = week_start(schedule.created_at, zone)
    if first < schedule.created_at.astimezone(zone):
        first = next_week(first)
    if evaluated_until is not None:
        first = max(first, week_start(evaluated_until, zone))
    current = week_start(now, zone)
    weeks = []
    week = first
    while week < current:
        weeks.append(week)
        week = next_week(week)
    return weeks
