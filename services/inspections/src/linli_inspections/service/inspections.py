"""Inspection use cases: record inspections, run rectification cases, plan and check schedules.

Each use case runs in one transaction and emits its events through the outbox. The responsible
party of a target (a compound's property manager, a frontage segment's shop, the household
itself) comes from the local read model built from registry events, never from a call.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_inspections.adapters.repository import (
    ChecklistRepository,
    InspectionRepository,
    PlaceReadModel,
    RectificationRepository,
    ScheduleRepository,
    TargetRepository,
)
from linli_inspections.domain import checklist as checklist_rules
from linli_inspections.domain import inspection as rules
from linli_inspections.domain import pest as pest_rules
from linli_inspections.domain import rectification as cases
from linli_inspections.domain import schedule as schedule_rules
from linli_inspections.domain.checklist import Checklist, ChecklistItem
from linli_inspections.domain.inspection import Finding, Inspection, Target
from linli_inspections.domain.rectification import (
    InvalidTransition,
    Rectification,
    TimelineEntry,
)
from linli_inspections.domain.schedule import Schedule, WeekCoverage
from linli_inspections.service import partner
from linli_shared.aio import sleep_or_stop
from linli_shared.clock import Clock
from linli_shared.contracts.base import EventData
from linli_shared.contracts.common import SubjectKind
from linli_shared.contracts.inspections import (
    FailedFindingV1,
    InspectionEscalated,
    InspectionFailed,
    InspectionPassed,
    InspectionRecorded,
    RectificationOverdue,
    RectificationReady,
    RectificationRequested,
    RectificationVerified,
    ScheduleMissed,
)
from linli_shared.db import Database
from linli_shared.errors import Conflict, NotFound, ProblemError
from linli_shared.messaging.outbox import Outbox
from linli_shared.pagination import PageRequest, Slice
from linli_shared.reach import EVERYWHERE, OutsideGrids, Reach
from linli_shared.rules import RuleViolation

log = logging.getLogger(__name__)

TARGET_KINDS = ("household", "compound", "frontage_segment", "pest_point")


@dataclass(frozen=True)
class InspectionPolicy:
    """The knobs of the scheduled job and of time: from settings, pinned in tests."""

    time_zone: str = "Asia/Shanghai"
    department_after: timedelta = timedelta(days=3)
    departments: dict[str, str] = field(
        default_factory=lambda: {
            "sanitation": "urban-management",
            "street_order": "urban-management",
            "frontage_duty": "urban-management",
            "pest_control": "health-cdc",
        }
    )
    default_department: str = "urban-management"
    clock_skew: timedelta = rules.DEFAULT_CLOCK_SKEW

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def department_for(self, checklist: str) -> str:
        return self.departments.get(checklist, self.default_department)


@dataclass(frozen=True)
class TargetRef:
    kind: str
    id: str


@dataclass(frozen=True)
class BatchResult:
    id: uuid.UUID
    status: str  # recorded | duplicate | conflict | invalid | not_found | forbidden
    inspection: Inspection | None = None
    errors: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class SweepReport:
    overdue: int = 0
    escalated: int = 0
    missed: int = 0


@dataclass(frozen=True)
class RecordRequest:
    """One inspection as a client sends it: for a subject directly, or for a target."""

    inspector_id: str
    findings: list[Finding]
    checklist: str | None = None
    inspection_id: uuid.UUID | None = None
    subject_id: uuid.UUID | None = None
    subject_kind: SubjectKind = SubjectKind.HOUSEHOLD
    target: TargetRef | None = None
    inspected_at: datetime | None = None
    reinspection_of: uuid.UUID | None = None
    checklist_version: int | None = None
    # Which findings named their severity (the others take the template item's).
    severity_given: list[bool] | None = None


class InspectionsService:
    def __init__(
        self,
        database: Database,
        outbox: Outbox,
        clock: Clock,
        policy: InspectionPolicy | None = None,
    ) -> None:
        self._database = database
        self._outbox = outbox
        self._clock = clock
        self.policy = policy or InspectionPolicy()

    # --- recording --------------------------------------------------------------------------

    async def record_inspection(
        self,
        *,
        inspection_id: uuid.UUID | None = None,
        subject_id: uuid.UUID | None = None,
        subject_kind: SubjectKind = SubjectKind.HOUSEHOLD,
        checklist: str | None = None,
        inspector_id: str,
        inspected_at: datetime | None,
        findings: list[Finding],
        target: TargetRef | None = None,
        reinspection_of: uuid.UUID | None = None,
        checklist_version: int | None = None,
        severity_given: list[bool] | None = None,
    ) -> tuple[Inspection, bool]:
        """Record an inspection; with a client-chosen id, sending it again records it once.

        Returns the inspection and whether it was newly recorded.
        """
        return await self.record(
            RecordRequest(
                inspector_id=inspector_id,
                findings=findings,
                checklist=checklist,
                inspection_id=inspection_id,
                subject_id=subject_id,
                subject_kind=subject_kind,
                target=target,
                inspected_at=inspected_at,
                reinspection_of=reinspection_of,
                checklist_version=checklist_version,
                severity_given=severity_given,
            )
        )

    async def record(
        self, request: RecordRequest, reach: Reach = EVERYWHERE
    ) -> tuple[Inspection, bool]:
        now = self._clock.now()
        async with self._database.transaction() as connection:
            inspection, version = await self._build(connection, request, now)
            if not reach.covers(inspection.grid_id):
                raise OutsideGrids(_target_field(request), inspection.grid_id)
            repository = InspectionRepository(connection)
            if await repository.add(inspection, recorded_at=now, checklist_version=version):
                await self._announce(connection, inspection, now, version)
                return inspection, True
            # Sent before: the insert found the row (or waited for a racing send to commit it).
            existing = await repository.get(inspection.id)
            assert existing is not None
            if not existing.same_record_as(inspection):
                raise Conflict(f"inspection {inspection.id} was recorded with other content")
            return existing, False

    async def _build(
        self, connection: AsyncConnection, request: RecordRequest, now: datetime
    ) -> tuple[Inspection, int | None]:
        target: Target | None = None
        checklist = request.checklist
        case: Rectification | None = None
        if request.reinspection_of is not None:
            case = await RectificationRepository(connection).get(request.reinspection_of)
            if case is None:
                raise RuleViolation(
                    "reinspection_of", f"no rectification {request.reinspection_of}"
                )
            checklist = checklist or case.checklist
            if checklist != case.checklist:
                raise RuleViolation("checklist", "a re-inspection uses the original checklist")
            if case.target_kind is not None and case.target_id is not None:
                target = Target(
                    case.target_kind,
                    case.target_id,
                    case.subject_id,
                    case.subject_kind,
                    case.grid_id,
                    case.community_id,
                )
        elif request.target is not None:
            target = await self.resolve_target(connection, request.target)
        if checklist is None:
            raise RuleViolation("checklist", "name the checklist")
        findings = request.findings
        version: int | None = None
        if request.target is not None or request.checklist_version is not None:
            template = await ChecklistRepository(connection).get(
                checklist, request.checklist_version
            )
            if template is None:
                raise RuleViolation("checklist", f"no checklist template {checklist!r}")
            given = request.severity_given or [True] * len(findings)
            findings = checklist_rules.apply(template, findings, given)
            version = template.version
        if target is not None:
            subject_id, subject_kind = target.subject_id, target.subject_kind
        elif case is not None:
            subject_id, subject_kind = case.subject_id, case.subject_kind
        elif request.subject_id is not None:
            subject_id, subject_kind = request.subject_id, request.subject_kind
            target = await self._known_subject(connection, subject_id, subject_kind)
        else:
            raise RuleViolation("subject_id", "name the subject or the target")
        community_id = target.community_id if target else case.community_id if case else None
        inspection = rules.record(
            inspection_id=request.inspection_id,
            subject_id=subject_id,
            subject_kind=subject_kind,
            checklist=checklist,
            inspector_id=request.inspector_id,
            inspected_at=request.inspected_at or now,
            findings=findings,
            now=now,
            target=target,
            reinspection_of=request.reinspection_of,
            time_zone=await self._zone_name(connection, community_id),
            clock_skew=self.policy.clock_skew,
        )
        return inspection, version

    async def _known_subject(
        self, connection: AsyncConnection, subject_id: uuid.UUID, kind: SubjectKind
    ) -> Target | None:
        """An inspection names a subject the registry announced: a registered household (its
        target), or an organisation that answers for a compound or frontage segment. Anything
        else is a 422 on `subject_id`: a typo, or a registration whose event is still on its way
        (the client retries with the same inspection id)."""
        repository = TargetRepository(connection)
        if kind is SubjectKind.HOUSEHOLD:
            target = await repository.get("household", str(subject_id))
            if target is not None:
                return target
        elif await repository.answers_for_something(subject_id):
            return None
        raise RuleViolation(
            "subject_id",
            f"no {kind.value} {subject_id} is known: inspections knows the households and "
            "organisations the registry has announced (registered just now? its event may still "
            "be on its way: retry shortly with the same inspection id)",
        )

    async def _zone_name(self, connection: AsyncConnection, community_id: str | None) -> str:
        """The community's time zone from the registry's events; the setting until it is known."""
        known = await PlaceReadModel(connection).time_zone_of(community_id)
        return known or self.policy.time_zone

    async def resolve_target(self, connection: AsyncConnection, ref: TargetRef) -> Target:
        """The target and its responsible party, from the read model."""
        if ref.kind not in TARGET_KINDS:
            raise RuleViolation("target.kind", f"one of {', '.join(TARGET_KINDS)}")
        repository = TargetRepository(connection)
        if ref.kind == "pest_point":
            point = await repository.pest_point(ref.id)
            if point is None:
                raise RuleViolation("target.id", f"no pest monitoring point {ref.id}")
            if point.responsible_id is not None:
                return Target(
                    "pest_point",
                    point.id,
                    point.responsible_id,
                    SubjectKind(point.responsible_kind),
                    point.grid_id,
                    point.community_id,
                )
            compound = (
                await repository.get("compound", point.compound_id) if point.compound_id else None
            )
            if compound is None:
                raise RuleViolation(
                    "target.id", f"pest point {ref.id} has no responsible party (yet)"
                )
            return Target(
                "pest_point",
                point.id,
                compound.subject_id,
                compound.subject_kind,
                point.grid_id,
                point.community_id,
            )
        target = await repository.get(ref.kind, ref.id)
        if target is None:
            raise RuleViolation(
                "target.id",
                f"no {ref.kind} {ref.id} with a responsible party is known (registered just "
                "now? the registry's event may still be on its way: retry shortly)",
            )
        return target

    async def _announce(
        self,
        connection: AsyncConnection,
        inspection: Inspection,
        now: datetime,
        checklist_version: int | None = None,
    ) -> None:
        schedule = (
            await ScheduleRepository(connection).find(
                inspection.target_kind, inspection.target_id, inspection.checklist
            )
            if inspection.target_kind and inspection.target_id
            else None
        )
        events: list[EventData] = [
            InspectionRecorded(
                **_about(inspection),
                outcome=inspection.outcome.value,
                schedule_id=schedule.id if schedule else None,
                is_reinspection=inspection.reinspection_of is not None,
            ),
            partner.inspection_completed(inspection),
        ]
        if inspection.reinspection_of is not None:
            await self._outbox.add(connection, *events)
            await self._reinspected(connection, inspection, now)
            return
        # The words residents read: the checklist version's (its latest for items given as text).
        template = (
            await ChecklistRepository(connection).get(inspection.checklist, checklist_version)
            if inspection.failed_findings
            else None
        )
        events.append(outcome_event(inspection, template))
        if inspection.failed_findings:
            case, entry = cases.request(inspection, now)
            repository = RectificationRepository(connection)
            await repository.add(case)
            await repository.add_entry(case.id, entry)
            events.append(
                RectificationRequested(
                    **_case(case),
                    failed_findings=failed_findings(case.failed_findings, template),
                )
            )
        await self._outbox.add(connection, *events)

    async def _reinspected(
        self, connection: AsyncConnection, reinspection: Inspection, now: datetime
    ) -> None:
        assert reinspection.reinspection_of is not None
        repository = RectificationRepository(connection)
        case = await repository.get(reinspection.reinspection_of, for_update=True)
        assert case is not None
        try:
            changed, entry = cases.reinspect(case, reinspection, now)
        except InvalidTransition as error:
            raise Conflict(str(error)) from error
        await repository.save(changed)
        await repository.add_entry(changed.id, entry)
        if changed.status is cases.Status.VERIFIED:
            await self._outbox.add(connection, outcome_event(reinspection))
            assert changed.verified_at is not None and changed.on_time is not None
            await self._outbox.add(
                connection,
                RectificationVerified(
                    **_case(changed),
                    reinspection_id=reinspection.id,
                    verified_at=changed.verified_at,
                    on_time=changed.on_time,
                ),
            )
            await self._outbox.add(connection, partner.rectification_verified(changed))

    async def record_batch(
        self, requests: Sequence[RecordRequest], reach: Reach = EVERYWHERE
    ) -> list[BatchResult]:
        """An offline client's upload: each inspection once, however often the batch is sent.

        Each item stands alone: one outside the caller's grids is refused (`forbidden`) and the
        rest are recorded, so a device never re-sends work that was already accepted.
        """
        results = []
        for request in requests:
            assert request.inspection_id is not None
            try:
                inspection, created = await self.record(request, reach)
            except OutsideGrids as error:
                results.append(
                    BatchResult(
                        request.inspection_id,
                        "forbidden",
                        errors=[{"field": error.field, "message": error.detail or error.title}],
                    )
                )
                continue
            except RuleViolation as error:
                results.append(
                    BatchResult(
                        request.inspection_id,
                        "invalid",
                        errors=[{"field": error.field, "message": error.message}],
                    )
                )
                continue
            except ProblemError as error:
                status = "conflict" if error.status == 409 else "not_found"
                results.append(
                    BatchResult(
                        request.inspection_id,
                        status,
                        errors=[{"field": "id", "message": error.detail or error.title}],
                    )
                )
                continue
            results.append(
                BatchResult(inspection.id, "recorded" if created else "duplicate", inspection)
            )
        return results

    async def get_inspection(
        self, inspection_id: uuid.UUID, reach: Reach = EVERYWHERE
    ) -> Inspection:
        async with self._database.connect() as connection:
            inspection = await InspectionRepository(connection).get(inspection_id)
        if inspection is None or not reach.covers(inspection.grid_id):
            raise NotFound("inspection", inspection_id)
        return inspection

    # --- rectifications ---------------------------------------------------------------------

    async def report_ready(
        self, rectification_id: uuid.UUID, reported_by: str, reach: Reach = EVERYWHERE
    ) -> Rectification:
        now = self._clock.now()
        async with self._database.transaction() as connection:
            repository = RectificationRepository(connection)
            case = await repository.get(rectification_id, for_update=True)
            if case is None or not reach.covers(case.grid_id):
                raise NotFound("rectification", rectification_id)
            try:
                changed, entry = cases.report_ready(case, reported_by=reported_by, now=now)
            except InvalidTransition as error:
                raise Conflict(str(error)) from error
            await repository.save(changed)
            await repository.add_entry(changed.id, entry)
            await self._outbox.add(
                connection, RectificationReady(**_case(changed), reported_at=now)
            )
        return changed

    async def get_rectification(
        self, rectification_id: uuid.UUID, reach: Reach = EVERYWHERE
    ) -> tuple[Rectification, list[TimelineEntry]]:
        async with self._database.connect() as connection:
            repository = RectificationRepository(connection)
            case = await repository.get(rectification_id)
            if case is None or not reach.covers(case.grid_id):
                raise NotFound("rectification", rectification_id)
            # The case shows its inspection's evidence (photo hash, place, time) per finding.
            inspection = await InspectionRepository(connection).get(case.inspection_id)
            if inspection is not None:
                case = replace(case, failed_findings=inspection.failed_findings)
            return case, await repository.timeline(rectification_id)

    async def search_rectifications(
        self,
        *,
        status: cases.Status | None,
        grid_id: str | None,
        subject_id: uuid.UUID | None,
        page: PageRequest,
        reach: Reach = EVERYWHERE,
    ) -> Slice[Rectification]:
        async with self._database.connect() as connection:
            return await RectificationRepository(connection).search(
                status=status,
                grid_id=grid_id,
                subject_id=subject_id,
                page=page,
                grids=reach.grids,
            )

    # --- the scheduled job ------------------------------------------------------------------

    async def sweep(self, now: datetime | None = None) -> SweepReport:
        """Find overdue rectifications, escalate them, and close the weeks of schedules.

        Safe to run on several workers at once: each case and schedule is taken under a row lock
        (skipped if another worker holds it), and each week of a schedule is evaluated once.
        """
        now = now or self._clock.now()
        overdue = escalated = 0
        async with self._database.connect() as connection:
            ids = await RectificationRepository(connection).needing_attention(
                now, now - self.policy.department_after
            )
        for rectification_id in ids:
            became_overdue, escalations = await self._attend(rectification_id, now)
            overdue += became_overdue
            escalated += escalations
        missed = await self._close_weeks(now)
        return SweepReport(overdue=overdue, escalated=escalated, missed=missed)

    async def _attend(self, rectification_id: uuid.UUID, now: datetime) -> tuple[int, int]:
        overdue = escalated = 0
        async with self._database.transaction() as connection:
            repository = RectificationRepository(connection)
            case = await repository.get(
                rectification_id, for_update=True, skip_locked=not self._database.is_sqlite
            )
            if case is None:
                return 0, 0
            step = cases.mark_overdue(case, now)
            if step is not None:
                case, entry = step
                await repository.save(case)
                await repository.add_entry(case.id, entry)
                assert case.overdue_since is not None
                await self._outbox.add(
                    connection,
                    RectificationOverdue(**_case(case), overdue_since=case.overdue_since),
                )
                await self._outbox.add(connection, partner.rectification_overdue(case))
                overdue = 1
            department = self.policy.department_for(case.checklist)
            while (
                step := cases.escalate(case, now, self.policy.department_after, department)
            ) is not None:
                case, entry = step
                await repository.save(case)
                await repository.add_entry(case.id, entry)
                await self._outbox.add(
                    connection,
                    InspectionEscalated(
                        **_case(case),
                        level=case.escalation.value,
                        department=department if case.escalation.value == "department" else None,
                        escalated_at=now,
                    ),
                )
                if case.escalation.value == "department":
                    await self._outbox.add(
                        connection, partner.rectification_escalated(case, department, now)
                    )
                escalated += 1
        return overdue, escalated

    async def _close_weeks(self, now: datetime) -> int:
        missed = 0
        async with self._database.connect() as connection:
            schedule_ids = await ScheduleRepository(connection).active_ids()
        for schedule_id in schedule_ids:
            async with self._database.transaction() as connection:
                repository = ScheduleRepository(connection)
                row = await repository.lock(schedule_id, skip_locked=not self._database.is_sqlite)
                if row is None or not row.active:
                    continue
                schedule = await repository.get(schedule_id)
                assert schedule is not None
                zone = ZoneInfo(await self._zone_name(connection, schedule.community_id))
                weeks = schedule_rules.weeks_due_for_evaluation(
                    schedule,
                    schedule_rules.next_week(row.evaluated_until.astimezone(zone))
                    if row.evaluated_until
                    else None,
                    now,
                    zone,
                )
                for week in weeks:
                    coverage = await self._coverage(connection, schedule, week)
                    if not await repository.record_week(
                        schedule.id, week, coverage.due, coverage.done
                    ):
                        continue
                    if coverage.missed:
                        missed += 1
                        await self._outbox.add(
                            connection,
                            ScheduleMissed(
                                schedule_id=schedule.id,
                                target_kind=schedule.target_kind,
                                target_id=schedule.target_id,
                                checklist=schedule.checklist,
                                grid_id=schedule.grid_id,
                                community_id=schedule.community_id,
                                week_starting=week,
                                due=coverage.due,
                                done=coverage.done,
                            ),
                        )
        return missed

    async def run_scheduler(self, stop: asyncio.Event, interval: float) -> None:
        """The worker's background loop: sweep, then wait; never dies of one failed sweep."""
        while not stop.is_set():
            try:
                report = await self.sweep()
                if report.overdue or report.escalated or report.missed:
                    log.info("sweep: %s", report)
            except Exception:
                log.exception("inspection sweep failed; retrying next interval")
            await sleep_or_stop(stop, interval)

    # --- schedules and coverage -------------------------------------------------------------

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
            resolved = await self.resolve_target(connection, target)
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

    async def schedules(
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
                await PlaceReadModel(connection).time_zone_of_grid(grid_id) or self.policy.time_zone
            )
            if not isinstance(day, datetime):
                day = datetime(day.year, day.month, day.day, 12, tzinfo=zone)
            week = schedule_rules.week_start(day, zone)
            end = schedule_rules.next_week(week)
            plans = await ScheduleRepository(connection).in_grid(grid_id)
            return week, [
                await self._coverage(connection, schedule, week)
                for schedule in plans
                if schedule.created_at < end
            ]

    async def _coverage(
        self, connection: AsyncConnection, schedule: Schedule, week: datetime
    ) -> WeekCoverage:
        end = schedule_rules.next_week(week)
        due = schedule.times_per_week if schedule.created_at <= week else 0
        done = await InspectionRepository(connection).count_done(
            schedule.target_kind, schedule.target_id, schedule.checklist, week, end
        )
        return WeekCoverage(schedule, week, due, done)

    # --- checklists -------------------------------------------------------------------------

    async def publish_checklist(
        self, *, name: str, title: str, items: list[ChecklistItem]
    ) -> Checklist:
        now = self._clock.now()
        async with self._database.transaction() as connection:
            repository = ChecklistRepository(connection)
            previous = await repository.get(name)
            checklist = checklist_rules.new_version(
                name=name, title=title, items=items, previous=previous, now=now
            )
            if not await repository.add(checklist):
                raise Conflict(f"checklist {name} was published concurrently; try again")
        return checklist

    async def checklists(self) -> list[Checklist]:
        async with self._database.connect() as connection:
            return await ChecklistRepository(connection).latest_all()

    async def checklist(self, name: str, version: int | None = None) -> Checklist:
        async with self._database.connect() as connection:
            found = await ChecklistRepository(connection).get(name, version)
        if found is None:
            raise NotFound("checklist", name if version is None else f"{name} v{version}")
        return found

    async def checklist_versions(self, name: str) -> list[Checklist]:
        async with self._database.connect() as connection:
            found = await ChecklistRepository(connection).versions(name)
        if not found:
            raise NotFound("checklist", name)
        return found

    # --- pest monitoring --------------------------------------------------------------------

    async def add_pest_point(
        self,
        *,
        id: str,
        community_id: str,
        grid_id: str | None,
        name: str,
        location: str | None,
        compound_id: str | None,
        responsible_id: uuid.UUID | None,
        responsible_kind: SubjectKind | None,
        reach: Reach = EVERYWHERE,
    ) -> Any:
        if not reach.covers(grid_id):
            raise OutsideGrids("grid_id", grid_id)
        if responsible_id is None and compound_id is None:
            raise RuleViolation(
                "responsible_id", "name the responsible party or the compound the point is in"
            )
        now = self._clock.now()
        async with self._database.transaction() as connection:
            if responsible_id is not None:  # a party the registry announced, as for inspections
                try:
                    await self._known_subject(
                        connection, responsible_id, responsible_kind or SubjectKind.ORGANISATION
                    )
                except RuleViolation as unknown:
                    raise RuleViolation("responsible_id", unknown.message) from unknown
            repository = TargetRepository(connection)
            added = await repository.add_pest_point(
                {
                    "id": id,
                    "community_id": community_id,
                    "grid_id": grid_id,
                    "name": name,
                    "location": location,
                    "compound_id": compound_id,
                    "responsible_id": responsible_id,
                    "responsible_kind": (
                        (responsible_kind or SubjectKind.ORGANISATION).value
                        if responsible_id
                        else None
                    ),
                    "created_at": now,
                }
            )
            if not added:
                raise Conflict(f"pest point {id} already exists")
            return await repository.pest_point(id)

    async def pest_points(
        self, grid_id: str | None, page: PageRequest, reach: Reach = EVERYWHERE
    ) -> Slice[Any]:
        async with self._database.connect() as connection:
            return await TargetRepository(connection).pest_points(grid_id, page, grids=reach.grids)

    async def record_reading(
        self,
        *,
        reading_id: uuid.UUID | None,
        point_id: str,
        pest: pest_rules.Pest,
        density: float,
        measured_at: datetime | None,
        recorded_by: str,
        reach: Reach = EVERYWHERE,
    ) -> tuple[Any, Inspection | None]:
        """A density reading; over its threshold it raises a failed pest-control finding."""
        now = self._clock.now()
        reading_id = reading_id or uuid.uuid4()
        reading = pest_rules.read(pest, density)
        failed = pest_rules.finding(reading)
        at = measured_at or now
        if at > now + timedelta(minutes=5):
            raise RuleViolation("measured_at", "a reading cannot be taken in the future")
        async with self._database.connect() as connection:
            repository = TargetRepository(connection)
            point = await repository.pest_point(point_id)
            if point is None or not reach.covers(point.grid_id):
                raise NotFound("pest point", point_id)
            existing = await repository.reading(reading_id)
        inspection: Inspection | None = None
        if existing is not None:
            if existing.inspection_id:
                inspection = await self.get_inspection(existing.inspection_id)
            return existing, inspection
        if failed is not None:
            inspection, _ = await self.record(
                RecordRequest(
                    inspector_id=recorded_by,
                    findings=[failed],
                    checklist="pest_control",
                    inspection_id=uuid.uuid5(reading_id, "pest-reading"),
                    target=TargetRef("pest_point", point_id),
                    inspected_at=at,
                )
            )
        async with self._database.transaction() as connection:
            repository = TargetRepository(connection)
            await repository.add_reading(
                {
                    "id": reading_id,
                    "point_id": point_id,
                    "pest": pest.value,
                    "density": density,
                    "threshold": reading.threshold,
                    "measured_at": at,
                    "recorded_by": recorded_by,
                    "inspection_id": inspection.id if inspection else None,
                }
            )
            stored = await repository.reading(reading_id)
        return stored, inspection

    async def readings(
        self, point_id: str, page: PageRequest, reach: Reach = EVERYWHERE
    ) -> Slice[Any]:
        async with self._database.connect() as connection:
            repository = TargetRepository(connection)
            if reach.grids is not None:
                point = await repository.pest_point(point_id)
                if point is None or not reach.covers(point.grid_id):
                    raise NotFound("pest point", point_id)
            return await repository.readings(point_id, page)

    # --- the read model of targets (registry events) ----------------------------------------

    async def remember_target(
        self, connection: AsyncConnection, target: Target, *, active: bool = True
    ) -> None:
        await TargetRepository(connection).upsert(target, active=active)

    async def forget_household(self, connection: AsyncConnection, household_id: uuid.UUID) -> None:
        await TargetRepository(connection).deactivate("household", str(household_id))

    async def remember_organisation(
        self,
        connection: AsyncConnection,
        *,
        organisation_id: uuid.UUID,
        community_id: str,
        grid_id: str | None,
        compound_ids: Sequence[str],
        frontage_segments: Sequence[str],
    ) -> None:
        repository = TargetRepository(connection)
        places = PlaceReadModel(connection)
        for kind, ids in (("compound", compound_ids), ("frontage_segment", frontage_segments)):
            await repository.release(organisation_id, kind, ids)
            for target_id in ids:
                target_grid = grid_id
                if kind == "compound" and (compound := await places.compound(target_id)):
                    if compound.property_manager_id != organisation_id:
                        continue  # the compound's own events say who manages it now
                    target_grid = compound.grid_id
                await repository.upsert(
                    Target(
                        kind,
                        target_id,
                        organisation_id,
                        SubjectKind.ORGANISATION,
                        target_grid,
                        community_id,
                    )
                )

    async def remember_community(
        self, connection: AsyncConnection, community_id: str, *, name: str, time_zone: str
    ) -> None:
        await PlaceReadModel(connection).put_community(community_id, name=name, time_zone=time_zone)

    async def remember_grid(
        self,
        connection: AsyncConnection,
        grid_id: str,
        *,
        community_id: str,
        name: str,
        worker_id: str | None,
    ) -> None:
        await PlaceReadModel(connection).put_grid(
            grid_id, community_id=community_id, name=name, worker_id=worker_id
        )

    async def remember_compound(
        self,
        connection: AsyncConnection,
        compound_id: str,
        *,
        community_id: str,
        grid_id: str,
        name: str,
        property_manager_id: uuid.UUID | None,
    ) -> None:
        """The compound's grid and property manager; the manager answers for it as a target."""
        await PlaceReadModel(connection).put_compound(
            compound_id,
            community_id=community_id,
            grid_id=grid_id,
            name=name,
            property_manager_id=property_manager_id,
        )
        targets = TargetRepository(connection)
        if property_manager_id is None:
            await targets.forget("compound", compound_id)
            return
        await targets.upsert(
            Target(
                "compound",
                compound_id,
                property_manager_id,
                SubjectKind.ORGANISATION,
                grid_id,
                community_id,
            )
        )


def _target_field(request: RecordRequest) -> str:
    """The request field that placed the inspection in its grid (for the error's pointer)."""
    if request.reinspection_of is not None:
        return "reinspection_of"
    return "target.id" if request.target is not None else "subject_id"


def _about(inspection: Inspection) -> dict[str, Any]:
    return {
        "inspection_id": inspection.id,
        "subject_id": inspection.subject_id,
        "subject_kind": inspection.subject_kind,
        "checklist": inspection.checklist,
        "inspected_at": inspection.inspected_at,
        "target_kind": inspection.target_kind or "household",
        "target_id": inspection.target_id,
        "grid_id": inspection.grid_id,
        "community_id": inspection.community_id,
    }


def _case(case: Rectification) -> dict[str, Any]:
    return {
        "rectification_id": case.id,
        "inspection_id": case.inspection_id,
        "subject_id": case.subject_id,
        "subject_kind": case.subject_kind,
        "severity": case.severity,
        "comply_by": case.comply_by,
        "grid_id": case.grid_id,
        "community_id": case.community_id,
    }


def outcome_event(inspection: Inspection, template: Checklist | None = None) -> EventData:
    if inspection.severity is None or inspection.comply_by is None:
        return InspectionPassed(**_about(inspection))
    return InspectionFailed(
        **_about(inspection),
        severity=inspection.severity,
        failed_findings=failed_findings(inspection.failed_findings, template),
        comply_by=inspection.comply_by,
        checklist_title=template.titles() if template is not None else None,
    )


def failed_findings(
    findings: Sequence[Finding], template: Checklist | None
) -> list[FailedFindingV1]:
    """The findings as events carry them, each with its item's text per language."""
    announced = []
    for finding in findings:
        item = template.item(finding.item) if template is not None else None
        announced.append(
            FailedFindingV1(
                item=finding.item,
                severity=finding.severity,
                note=finding.note,
                title=item.titles() if item is not None else None,
            )
        )
    return announced
