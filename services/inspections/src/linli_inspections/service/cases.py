"""Rectification cases: opened by a failed inspection, told to the responsible party (notify's
delivery of the rectification notice starts the comply-by period), reported ready, verified by a
passing re-inspection, marked overdue and escalated by the scheduled sweep.

Each use case opens its transaction; called inside another's (recording an inspection opens or
verifies its case), it joins that one, so the case and its events commit with the inspection.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from linli_inspections.adapters.repository import RectificationRepository
from linli_inspections.domain import rectification
from linli_inspections.domain.checklist import Checklist
from linli_inspections.domain.inspection import Evidence, Inspection
from linli_inspections.domain.policy import InspectionPolicy
from linli_inspections.domain.rectification import (
    Escalation,
    InvalidTransition,
    Rectification,
    TimelineEntry,
)
from linli_inspections.service import announcements, partner
from linli_inspections.service.evidence import check_shown
from linli_inspections.service.notes import NoteSeal
from linli_shared.clock import Clock
from linli_shared.contracts.base import EventData
from linli_shared.contracts.notify import NoticeDelivered, NoticeFailed
from linli_shared.db import Database
from linli_shared.errors import Conflict, NotFound
from linli_shared.messaging.outbox import Outbox
from linli_shared.reach import EVERYWHERE, Reach

# notify's notice type of the notice a failed inspection makes for its responsible party.
RECTIFICATION_NOTICE = "rectification"


@dataclass(frozen=True)
class ReinspectionRequest:
    """When a case's re-inspection is to happen, optionally by whom and with a note."""

    scheduled_for: datetime
    inspector_id: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class ReadyReport:
    """What the responsible party says with its report of the fix: what was done, and photos."""

    note: str | None = None
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class CasesUseCases:
    _database: Database
    _outbox: Outbox
    _clock: Clock
    _policy: InspectionPolicy

    async def request(
        self, inspection: Inspection, template: Checklist | None, notes: NoteSeal | None = None
    ) -> Rectification:
        """The case a failed inspection opens, announced in the template's words, its notes
        sealed (`notes`)."""
        now = self._clock.now()
        case, entry = rectification.request(inspection, now, self._policy.comply_clock)
        async with self._database.transaction() as connection:
            repository = RectificationRepository(connection)
            await repository.add(case)
            await repository.add_entry(case.id, entry)
            await self._outbox.add(connection, announcements.requested(case, template, notes))
        return case

    async def verify(self, reinspection: Inspection, rectification_id: uuid.UUID) -> Rectification:
        """A re-inspection of the case: passed, it verifies the fix; failed, the case stays open."""
        now = self._clock.now()
        async with self._database.transaction() as connection:
            repository = RectificationRepository(connection)
            case = await repository.get(rectification_id, for_update=True)
            if case is None:
                raise NotFound("rectification", rectification_id)
            try:
                changed, entry = rectification.reinspect(case, reinspection, now)
            except InvalidTransition as error:
                raise Conflict(str(error)) from error
            await repository.save(changed)
            await repository.add_entry(changed.id, entry)
            if changed.status is rectification.Status.VERIFIED:
                await self._outbox.add(
                    connection,
                    announcements.outcome(reinspection),
                    announcements.verified(changed),
                    partner.rectification_verified(changed),
                )
        return changed

    async def record_notification(self, event: NoticeDelivered) -> Rectification | None:
        """The rectification notice reached the responsible party: the case records when, and
        under the `notified` clock its comply-by period runs from then (never from earlier than
        the upload), announced as `rectification.notified`. Another notice, a delivery to
        someone else, a second delivery or one to a verified case changes nothing."""
        return await self._on_notice(
            event,
            lambda case: rectification.notify(
                case,
                notified_at=event.delivered_at,
                channel=event.channel,
                notice_id=str(event.notice_id),
            ),
            lambda before, told: announcements.notified(told, before.comply_by, event.channel),
        )

    async def record_failed_notice(self, event: NoticeFailed) -> Rectification | None:
        """notify gave up on the rectification notice: the case's provisional deadline stands
        (it can go overdue, and the grid worker serves the notice by hand); on the timeline."""
        return await self._on_notice(
            event,
            lambda case: rectification.notice_failed(
                case,
                failed_at=event.failed_at,
                channel=event.channel,
                notice_id=str(event.notice_id),
            ),
        )

    async def _on_notice(
        self,
        event: NoticeDelivered | NoticeFailed,
        step: Callable[[Rectification], tuple[Rectification, TimelineEntry] | None],
        announce: Callable[[Rectification, Rectification], EventData] | None = None,
    ) -> Rectification | None:
        """notify's verdict on a case's rectification notice: the case's step, its timeline entry
        and (given `announce`) its event, together. Any other notice, or one to anybody but the
        case's responsible party, is not the case's."""
        if event.notice_type != RECTIFICATION_NOTICE or event.inspection_id is None:
            return None
        async with self._database.transaction() as connection:
            repository = RectificationRepository(connection)
            case = await repository.of_inspection(event.inspection_id, for_update=True)
            if case is None or case.subject_id != event.recipient_id:
                return None
            taken = step(case)
            if taken is None:
                return None
            changed, entry = taken
            await repository.save(changed)
            await repository.add_entry(changed.id, entry)
            if announce is not None:
                await self._outbox.add(connection, announce(case, changed))
        return changed

    async def report_ready(
        self,
        rectification_id: uuid.UUID,
        reported_by: str,
        reach: Reach = EVERYWHERE,
        report: ReadyReport = ReadyReport(),
    ) -> Rectification:
        """The responsible party (or staff for it) reports the fix done: the case waits for its
        re-inspection. Its photos must be uploaded ones (422 naming `evidence.<n>.photo_ref`);
        those who may see the case see them."""
        now = self._clock.now()
        async with self._database.transaction() as connection:
            await check_shown(connection, report.evidence)
            changed = await self._change(
                rectification_id,
                reach,
                lambda case: rectification.report_ready(
                    case,
                    reported_by=reported_by,
                    now=now,
                    note=report.note,
                    evidence=report.evidence,
                ),
                lambda changed: announcements.ready(changed, now),
            )
            if report.evidence:
                await RectificationRepository(connection).add_evidence(
                    changed.id, report.evidence, now
                )
        return changed

    async def schedule_reinspection(
        self,
        rectification_id: uuid.UUID,
        request: ReinspectionRequest,
        scheduled_by: str,
        reach: Reach = EVERYWHERE,
    ) -> Rectification:
        """Plan the case's re-inspection (again: the latest plan stands, the timeline keeps all)."""
        now = self._clock.now()
        return await self._change(
            rectification_id,
            reach,
            lambda case: rectification.schedule_reinspection(
                case,
                scheduled_for=request.scheduled_for,
                scheduled_by=scheduled_by,
                now=now,
                inspector_id=request.inspector_id,
                note=request.note,
                clock_skew=self._policy.clock_skew,
            ),
            announcements.reinspection_scheduled,
        )

    async def _change(
        self,
        rectification_id: uuid.UUID,
        reach: Reach,
        transition: Callable[[Rectification], tuple[Rectification, TimelineEntry]],
        announce: Callable[[Rectification], EventData],
    ) -> Rectification:
        """One step of a case the caller may reach, its timeline entry and its event, together;
        a step the case's state forbids is a conflict."""
        async with self._database.transaction() as connection:
            repository = RectificationRepository(connection)
            case = await repository.get(rectification_id, for_update=True)
            if case is None or not reach.covers(case.grid_id, case.subject_id):
                raise NotFound("rectification", rectification_id)
            try:
                changed, entry = transition(case)
            except InvalidTransition as error:
                raise Conflict(str(error)) from error
            await repository.save(changed)
            await repository.add_entry(changed.id, entry)
            await self._outbox.add(connection, announce(changed))
        return changed

    async def needing_attention(self, now: datetime) -> list[uuid.UUID]:
        """The cases the sweep looks at: past their deadline, or due for the department."""
        async with self._database.connect() as connection:
            return await RectificationRepository(connection).needing_attention(
                now, now - self._policy.department_after
            )

    async def attend(self, rectification_id: uuid.UUID, now: datetime) -> tuple[int, int]:
        """Mark the case overdue and escalate it as far as `now` allows; returns how many cases
        became overdue (0 or 1) and how many escalation steps were taken.

        Safe on several workers at once: the case is taken under a row lock, skipped when another
        worker holds it.
        """
        overdue = escalated = 0
        async with self._database.transaction() as connection:
            repository = RectificationRepository(connection)
            case = await repository.get(
                rectification_id, for_update=True, skip_locked=not self._database.is_sqlite
            )
            if case is None:
                return 0, 0
            step = rectification.mark_overdue(case, now)
            if step is not None:
                case, entry = step
                await repository.save(case)
                await repository.add_entry(case.id, entry)
                await self._outbox.add(
                    connection, announcements.overdue(case), partner.rectification_overdue(case)
                )
                overdue = 1
            department = self._policy.department_for(case.checklist)
            while (
                step := rectification.escalate(case, now, self._policy.department_after, department)
            ) is not None:
                case, entry = step
                await repository.save(case)
                await repository.add_entry(case.id, entry)
                to_department = case.escalation is Escalation.DEPARTMENT
                await self._outbox.add(
                    connection,
                    announcements.escalated(case, department if to_department else None, now),
                )
                if to_department:
                    await self._outbox.add(
                        connection, partner.rectification_escalated(case, department, now)
                    )
                escalated += 1
        return overdue, escalated
