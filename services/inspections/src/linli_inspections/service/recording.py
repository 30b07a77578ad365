"""Recording inspections: one at a time, or an offline device's batch, each recorded once.

An inspection names its subject directly, a target (whose responsible party comes from the read
model), or the rectification it re-inspects. A failed one opens a rectification case; a
re-inspection verifies its case (`cases`); both in the inspection's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_inspections.adapters.repository import (
    InspectionRepository,
    RecordingContext,
    RecordingLookup,
    RectificationRepository,
)
from linli_inspections.domain import checklist as checklist_rules
from linli_inspections.domain import inspection as rules
from linli_inspections.domain.inspection import Finding, Inspection, Target
from linli_inspections.domain.policy import InspectionPolicy
from linli_inspections.domain.rectification import Rectification
from linli_inspections.service import announcements, partner
from linli_inspections.service.cases import CasesUseCases
from linli_inspections.service.evidence import check_uploaded
from linli_inspections.service.lookups import (
    TargetRef,
    check_kind,
    known_household,
    known_subject,
    known_target,
    resolve_target,
)
from linli_inspections.service.notes import NoteSealing
from linli_shared.clock import Clock
from linli_shared.contracts.common import SubjectKind
from linli_shared.db import Database
from linli_shared.errors import Conflict, ProblemError
from linli_shared.messaging.outbox import Outbox
from linli_shared.reach import EVERYWHERE, OutsideGrids, Reach
from linli_shared.rules import RuleViolation


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


@dataclass(frozen=True)
class BatchResult:
    id: uuid.UUID
    status: str  # recorded | duplicate | conflict | invalid | not_found | forbidden
    inspection: Inspection | None = None
    errors: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class RecordingUseCases:
    _database: Database
    _outbox: Outbox
    _clock: Clock
    _policy: InspectionPolicy
    _cases: CasesUseCases
    _notes: NoteSealing

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
            inspection, version, context = await self._build(connection, request, now)
            if not reach.covers(inspection.grid_id):
                raise OutsideGrids(_target_field(request), inspection.grid_id)
            await check_uploaded(connection, inspection)
            repository = InspectionRepository(connection)
            if await repository.add(inspection, recorded_at=now, checklist_version=version):
                await self._announce(connection, inspection, context)
                return inspection, True
            # Sent before: the insert found the row (or waited for a racing send to commit it).
            existing = await repository.get(inspection.id)
            if existing is None or not existing.same_record_as(inspection):
                raise Conflict(f"inspection {inspection.id} was recorded with other content")
            return existing, False

    async def record_batch(
        self, requests: Sequence[RecordRequest], reach: Reach = EVERYWHERE
    ) -> list[BatchResult]:
        """An offline client's upload: each inspection once, however often the batch is sent.

        Each item stands alone: one outside the caller's grids is refused (`forbidden`) and the
        rest are recorded, so a device never re-sends work that was already accepted.
        """
        results = []
        for request in requests:
            if request.inspection_id is None:
                raise RuleViolation("inspections", "each offline inspection needs its client id")
            results.append(await self._record_item(request.inspection_id, request, reach))
        return results

    async def _record_item(
        self, item_id: uuid.UUID, request: RecordRequest, reach: Reach
    ) -> BatchResult:
        try:
            inspection, created = await self.record(request, reach)
        except OutsideGrids as error:
            return BatchResult(
                item_id,
                "forbidden",
                errors=[{"field": error.field, "message": error.detail or error.title}],
            )
        except RuleViolation as error:
            return BatchResult(
                item_id, "invalid", errors=[{"field": error.field, "message": error.message}]
            )
        except ProblemError as error:
            if error.status >= 500:
                # Not the item's fault (the registry is away): the whole upload is answered so,
                # and the device sends it again; what went before is `duplicate` then.
                raise
            return BatchResult(
                item_id,
                "conflict" if error.status == 409 else "not_found",
                errors=[{"field": "id", "message": error.detail or error.title}],
            )
        return BatchResult(inspection.id, "recorded" if created else "duplicate", inspection)

    async def _build(
        self, connection: AsyncConnection, request: RecordRequest, now: datetime
    ) -> tuple[Inspection, int | None, RecordingContext]:
        target: Target | None = None
        checklist = request.checklist
        case: Rectification | None = None
        ref: TargetRef | None = None  # a target whose row the read model is asked for
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
            check_kind(request.target)
            if request.target.kind == "pest_point":
                target = await resolve_target(connection, request.target)
            else:
                ref = request.target
        elif request.subject_id is not None and request.subject_kind is SubjectKind.HOUSEHOLD:
            ref = TargetRef("household", str(request.subject_id))
        known = ref or (TargetRef(target.kind, target.id) if target else None)
        # One round trip: the target, its zone, its schedule and the checklist's template.
        context = await RecordingLookup(connection).context(
            checklist,
            request.checklist_version,
            target=(known.kind, known.id) if known else None,
            read_target=ref is not None,
            community_id=target.community_id if target else case.community_id if case else None,
        )
        if request.target is not None and ref is not None:
            target = known_target(ref, context.target)
        if checklist is None:
            raise RuleViolation("checklist", "name the checklist")
        findings = request.findings
        version: int | None = None
        if request.target is not None or request.checklist_version is not None:
            template = context.template
            if template is None:
                raise RuleViolation("checklist", f"no checklist template {checklist!r}")
            given = request.severity_given or [True] * len(findings)
            findings = checklist_rules.apply(template, findings, given)
            version = template.version
        if target is not None:
            subject_id, subject_kind = target.subject_id, target.subject_kind
        elif case is not None:
            subject_id, subject_kind = case.subject_id, case.subject_kind
        elif request.subject_id is None:
            raise RuleViolation("subject_id", "name the subject or the target")
        elif ref is not None:
            subject_id, subject_kind = request.subject_id, request.subject_kind
            target = known_household(subject_id, context.target)
        else:
            subject_id, subject_kind = request.subject_id, request.subject_kind
            target = await known_subject(connection, subject_id, subject_kind)
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
            time_zone=context.time_zone or self._policy.time_zone,
            clock_skew=self._policy.clock_skew,
        )
        return inspection, version, context

    async def _announce(
        self, connection: AsyncConnection, inspection: Inspection, context: RecordingContext
    ) -> None:
        """`inspection.recorded` and its partner twin; then the outcome and the case it opens,
        or, for a re-inspection, the verification of its case."""
        recorded = (
            announcements.recorded(inspection, context.schedule_id),
            partner.inspection_completed(inspection),
        )
        if inspection.reinspection_of is not None:
            await self._outbox.add(connection, *recorded)
            await self._cases.verify(inspection, inspection.reinspection_of)
            return
        if not inspection.failed_findings:
            await self._outbox.add(connection, *recorded, announcements.outcome(inspection))
            return
        # The words residents read: the checklist version's (its latest for items given as text).
        notes = await self._notes.seal_for(connection, inspection)
        outcome = announcements.outcome(inspection, context.template, notes)
        await self._outbox.add(connection, *recorded, outcome)
        await self._cases.request(inspection, context.template, notes)


def _target_field(request: RecordRequest) -> str:
    """The request field that placed the inspection in its grid (for the error's pointer)."""
    if request.reinspection_of is not None:
        return "reinspection_of"
    return "target.id" if request.target is not None else "subject_id"
