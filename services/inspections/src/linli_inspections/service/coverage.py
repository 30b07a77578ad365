"""Schedules and their coverage: plan recurring inspections of a target, see what was due, done
and missed in a local week, and close each week once it is over (`schedule.missed`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_inspections.adapters.repository import (
    ChecklistRepository,
    InspectionRepository,
    PlaceReadModel,
    ScheduleRepository,
)
from linli_inspections.domain import schedule as schedule_rules
from linli_inspections.domain.policy import InspectionPolicy
from linli_inspections.domain.schedule import Schedule, WeekCoverage
from linli_inspections.service.lookups import TargetRef, resolve_target, zone_name
from linli_shared.clock import Clock
from linli_shared.contracts.inspections import ScheduleMissed
from linli_shared.db import Database
from linli_shared.errors import Conflict, NotFound
from linli_shared.messaging.outbox import Outbox
from linli_shared.pagination import PageRequest, Slice
from linli_shared.reach import EVERYWHERE, OutsideGrids, Reach
from linli_shared.rules import RuleViolation


@dataclass(frozen=True)
class CoverageUseCases:
    _database: Database
    _outbox: Outbox
    _clock: Clock
    _policy: InspectionPolicy

    async def plan_schedule(
        self,
        *,
        target: TargetRef,
        checklist: str,
        times_per_week: int,
        reach: Reach = EVERYWHERE,
    ) -> Schedule:
        now = self._clock.now()
        async with self._database.transaction() as connection:
            resolved = await resolve_target(connection, target)
            if not reach.covers(resolved.grid_id):
                raise OutsideGrids("target.id", resolved.grid_id)
            if await ChecklistRepository(connection).get(checklist) is None:
                raise RuleViolation("checklist", f"no checklist template {checklist!r}")
            repository = ScheduleRepository(connection)
            if await repository.find(target.kind, target.id, checklist) is not None:
                raise Conflict(f"{target.kind} {target.id} already has a {checklist} schedule")
            schedule = schedule_rules.plan(
                target_kind=target.kind,
                target_id=target.id,
                checklist=checklist,
                times_per_week=times_per_week,
                grid_id=resolved.grid_id,
                community_id=resolved.community_id,
                now=now,
            )
            await repository.add(schedule)
        return schedule

    async def stop_schedule(self, schedule_id: uuid.UUID, reach: Reach = EVERYWHERE) -> None:
        async with self._database.transaction() as connection:
            repository = ScheduleRepository(connection)
            schedule = await repository.get(schedule_id)
            if schedule is None or not reach.covers(schedule.grid_id):
                raise NotFound("schedule", schedule_id)
            await repository.deactivate(schedule_id)

    async def list_schedules(
        self, grid_id: str | None, page: PageRequest, reach: Reach = EVERYWHERE
    ) -> Slice[Schedule]:
        async with self._database.connect() as connection:
            return await ScheduleRepository(connection).search(grid_id, page, grids=reach.grids)

    async def coverage(
        self, grid_id: str, day: date | datetime, reach: Reach = EVERYWHERE
    ) -> tuple[datetime, list[WeekCoverage]]:
        """What was due, done and missed in the grid in the local week containing `day` (a
        local date, or an instant); local is the time zone of the grid's community."""
        if not reach.covers(grid_id):
            raise OutsideGrids("grid_id", grid_id)
        async with self._database.connect() as connection:
            zone = ZoneInfo(
                await PlaceReadModel(connection).time_zone_of_grid(grid_id)
                or self._policy.time_zone
            )
            if not isinstance(day, datetime):
                day = datetime(day.year, day.month, day.day, 12, tzinfo=zone)
            week = schedule_rules.week_start(day, zone)
            end = schedule_rules.next_week(week)
            plans = await ScheduleRepository(connection).in_grid(grid_id)
            return week, [
                await _week(connection, schedule, week)
                for schedule in plans
                if schedule.created_at < end
            ]

    async def close_weeks(self, now: datetime) -> int:
        """Evaluate every schedule's weeks that are over (each once); returns how many were
        missed, each announced as `schedule.missed`.

        Safe on several workers at once: each schedule is taken under a row lock, skipped when
        another worker holds it.
        """
        async with self._database.connect() as connection:
            schedule_ids = await ScheduleRepository(connection).active_ids()
        missed = 0
        for schedule_id in schedule_ids:
            missed += await self._close_weeks_of(schedule_id, now)
        return missed

    async def _close_weeks_of(self, schedule_id: uuid.UUID, now: datetime) -> int:
        missed = 0
        async with self._database.transaction() as connection:
            repository = ScheduleRepository(connection)
            row = await repository.lock(schedule_id, skip_locked=not self._database.is_sqlite)
            schedule = await repository.get(schedule_id) if row is not None else None
            if row is None or not row.active or schedule is None:
                return 0
            zone = ZoneInfo(
                await zone_name(connection, schedule.community_id, self._policy.time_zone)
            )
            weeks = schedule_rules.weeks_due_for_evaluation(
                schedule,
                schedule_rules.next_week(row.evaluated_until.astimezone(zone))
                if row.evaluated_until
                else None,
                now,
                zone,
            )
            for week in weeks:
                coverage = await _week(connection, schedule, week)
                if not await repository.record_week(schedule.id, week, coverage.due, coverage.done):
                    continue
                if coverage.missed:
                    missed += 1
                    await self._outbox.add(connection, _missed(schedule, coverage))
        return missed


async def _week(connection: AsyncConnection, schedule: Schedule, week: datetime) -> WeekCoverage:
    """Due and done of one schedule in one week (due from the first whole week it existed)."""
    end = schedule_rules.next_week(week)
    due = schedule.times_per_week if schedule.created_at <= week else 0
    done = await InspectionRepository(connection).count_done(
        schedule.target_kind, schedule.target_id, schedule.checklist, week, end
    )
    return WeekCoverage(schedule, week, due, done)


def _missed(schedule: Schedule, coverage: WeekCoverage) -> ScheduleMissed:
    return ScheduleMissed(
        schedule_id=schedule.id,
        target_kind=schedule.target_kind,
        target_id=schedule.target_id,
        checklist=schedule.checklist,
        grid_id=schedule.grid_id,
        community_id=schedule.community_id,
        week_starting=coverage.week_starting,
        due=coverage.due,
        done=coverage.done,
    )
