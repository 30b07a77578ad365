"""A notice per event: what inspections and credit announce becomes a notice to the person it
is about (or the grid worker of its grid), and a message to each subscribed partner.

Use cases only make notices (exactly once: a de-duplication key per cause) and queue partner
webhook messages; the dispatcher (service/dispatch.py) delivers them, so a slow mail server or
partner never blocks a partition. The rectification notice comes from `inspection.failed` alone
(docs/notify.md, "What is sent, to whom").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from linli_notify.adapters.repository import NoticeRepository
from linli_notify.domain.notice import NoticeType, grid_worker_id, new_notice
from linli_notify.service.partners import queue_partner_messages
from linli_shared.clock import Clock
from linli_shared.context import current_context
from linli_shared.contracts import (
    AppealDecided,
    AppealReceived,
    CommendationAwarded,
    GradeChanged,
    GreenChannelGranted,
    GreenChannelLost,
    InspectionEscalated,
    InspectionFailed,
    RectificationOverdue,
    RectificationVerified,
    ScoreChanged,
)
from linli_shared.contracts.credit import CreditSubjectKind
from linli_shared.contracts.inspections import FailedFindingV1, JointlySealedV1
from linli_shared.crypto import SealBroken, Sealer, joint_key
from linli_shared.db import Database
from linli_shared.messaging.envelope import MalformedEvent
from linli_shared.messaging.processing import UnknownSubject
from linli_shared.subject_keys import SubjectKeySource, SubjectKeyUnavailable
from linli_shared.telemetry import current_traceparent


@dataclass(frozen=True)
class NoticeMakingUseCases:
    _database: Database
    _clock: Clock
    _keys: SubjectKeySource | None = None

    # --- from inspections ------------------------------------------------------------------------

    async def notice_rectification(self, event: InspectionFailed, source_event_id: str) -> None:
        """One notice per failed inspection, however often it is announced. Every inspections
        release emits this event and it carries all the notice says; `rectification.requested`
        adds only the case id, which the notice does not show, so it is not consumed. Each
        finding's note is opened with the subject's key; one sealed under a destroyed key is no
        note (the subject was erased)."""
        findings = await self._findings(event.subject_id, event.failed_findings)
        await self._create(
            event.subject_id,
            NoticeType.RECTIFICATION,
            source_event_id,
            {
                "inspection_id": str(event.inspection_id),
                "checklist": event.checklist,
                "checklist_title": event.checklist_title,
                "inspected_at": event.inspected_at.isoformat(),
                "comply_by": event.comply_by.isoformat(),
                "severity": event.severity.value,
                "findings": findings,
            },
            dedup_key=f"inspection:{event.inspection_id}",
            partner={
                "inspection_id": str(event.inspection_id),
                "subject_id": str(event.subject_id),
                "subject_kind": event.subject_kind.value,
                "checklist": event.checklist,
                "severity": event.severity.value,
                "comply_by": event.comply_by.isoformat(),
                "grid_id": event.grid_id,
                "community_id": event.community_id,
                "findings": [{"item": f["item"], "severity": f["severity"]} for f in findings],
            },
        )

    async def _findings(
        self, subject: uuid.UUID, failed: list[FailedFindingV1]
    ) -> list[dict[str, object]]:
        findings = []
        for finding in failed:
            shown = finding.model_dump(mode="json", exclude={"note_sealed", "note_sealed_jointly"})
            if finding.note_sealed_jointly is not None:
                shown["note"] = await self._jointly_opened(subject, finding.note_sealed_jointly)
            elif finding.note_sealed is not None:
                shown["note"] = _opened_note(
                    subject, await self._key_of(subject), finding.note_sealed
                )
            findings.append(shown)
        return findings

    async def _jointly_opened(self, subject: uuid.UUID, note: JointlySealedV1) -> str | None:
        """The note under the joint key of its subjects' keys; None once any one is destroyed."""
        if note.subjects[0] != subject:
            raise MalformedEvent(f"a note about {subject} sealed for {note.subjects[0]}")
        if self._keys is None:
            raise SubjectKeyUnavailable("no source of subject keys is configured")
        # Every subject's key in one read of the registry's, not one each.
        found = await self._keys.keys_of(note.subjects)
        keys = []
        for each in note.subjects:
            if each not in found:
                raise UnknownSubject(each, "subject key")
            key = found[each]
            if key is None:
                return None
            keys.append(key)
        return _opened_note(subject, joint_key(keys, [str(s) for s in note.subjects]), note.sealed)

    async def _key_of(self, subject: uuid.UUID) -> str | None:
        if self._keys is None:
            raise SubjectKeyUnavailable("no source of subject keys is configured")
        return await self._keys.key_of(subject)

    async def notice_reinspection(self, event: RectificationVerified, source_event_id: str) -> None:
        variables: dict[str, object] = {
            "inspection_id": str(event.inspection_id),
            "rectification_id": str(event.rectification_id),
            "reinspection_id": str(event.reinspection_id),
            "verified_at": event.verified_at.isoformat(),
            "on_time": event.on_time,
        }
        await self._create(
            event.subject_id,
            NoticeType.REINSPECTION_RESULT,
            source_event_id,
            variables,
            dedup_key=f"rectification:{event.rectification_id}",
            partner={
                **variables,
                "subject_id": str(event.subject_id),
                "subject_kind": event.subject_kind.value,
                "grid_id": event.grid_id,
                "community_id": event.community_id,
            },
        )

    async def notice_overdue(
        self, event: RectificationOverdue | InspectionEscalated, source_event_id: str
    ) -> None:
        """Overdue: the grid worker hears of it; an escalation to a department goes to partners."""
        common: dict[str, object] = {
            "inspection_id": str(event.inspection_id),
            "rectification_id": str(event.rectification_id),
            "subject_id": str(event.subject_id),
            "subject_kind": event.subject_kind.value,
            "severity": event.severity.value,
            "comply_by": event.comply_by.isoformat(),
            "grid_id": event.grid_id,
            "community_id": event.community_id,
        }
        if isinstance(event, InspectionEscalated) and event.level == "department":
            async with self._database.transaction() as connection:
                await queue_partner_messages(
                    NoticeRepository(connection),
                    self._clock.now(),
                    NoticeType.OVERDUE_ESCALATION,
                    f"escalation:{event.rectification_id}:department",
                    {
                        **common,
                        "level": event.level,
                        "department": event.department,
                        "escalated_at": event.escalated_at.isoformat(),
                    },
                    department=event.department,
                )
            return
        if event.grid_id is None:
            return  # no grid, no grid worker to tell
        async with self._database.transaction() as connection:
            subject = await NoticeRepository(connection).recipient(event.subject_id)
        label = str(event.subject_id)
        if subject is not None:
            label = f"{subject.name}（{subject.address}）" if subject.address else subject.name
        since = (
            event.overdue_since if isinstance(event, RectificationOverdue) else event.escalated_at
        )
        await self._create(
            grid_worker_id(event.grid_id),
            NoticeType.OVERDUE_ESCALATION,
            source_event_id,
            {**common, "subject_label": label, "overdue_since": since.isoformat()},
            dedup_key=f"overdue:{event.rectification_id}",
            announced=False,  # grid workers' contacts are entered in notify, not announced
        )

    # --- from credit -----------------------------------------------------------------------------

    async def notice_score_change(self, event: ScoreChanged, source_event_id: str) -> None:
        if _about_a_resident(event):
            return
        await self._create(
            event.subject_id,
            NoticeType.SCORE_CHANGE,
            source_event_id,
            {
                "score_before": event.score_before,
                "score_after": event.score_after,
                "points": event.points,
                "grade_before": event.grade_before,
                "grade_after": event.grade_after,
                "reason_code": event.reason_code,
            },
            dedup_key=f"entry:{event.entry_id}",
        )

    async def notice_grade_change(self, event: GradeChanged, source_event_id: str) -> None:
        if _about_a_resident(event):
            return
        await self._create(
            event.subject_id,
            NoticeType.GRADE_CHANGE,
            source_event_id,
            {
                "grade_before": event.grade_before,
                "grade_after": event.grade_after,
                "score": event.score,
                "evaluated_at": event.evaluated_at.isoformat(),
            },
        )

    async def notice_green_channel(
        self, event: GreenChannelGranted | GreenChannelLost, source_event_id: str
    ) -> None:
        if _about_a_resident(event):
            return
        if isinstance(event, GreenChannelGranted):
            notice_type = NoticeType.GREEN_CHANNEL_GRANTED
            variables: dict[str, object] = {
                "grade": event.grade,
                "valid_until": event.valid_until.isoformat(),
            }
        else:
            notice_type, variables = NoticeType.GREEN_CHANNEL_LOST, {"grade": event.grade}
        await self._create(event.subject_id, notice_type, source_event_id, variables)

    async def notice_appeal(
        self, event: AppealReceived | AppealDecided, source_event_id: str
    ) -> None:
        if isinstance(event, AppealReceived):
            notice_type = NoticeType.APPEAL_RECEIVED
            variables: dict[str, object] = {
                "appeal_id": str(event.appeal_id),
                "entry_id": str(event.entry_id),
                "decide_by": event.decide_by.isoformat(),
            }
        else:
            notice_type = NoticeType.APPEAL_DECIDED
            variables = {
                "appeal_id": str(event.appeal_id),
                "entry_id": str(event.entry_id),
                "outcome": event.outcome,
                "reason": event.reason,
            }
        await self._create(
            event.subject_id,
            notice_type,
            source_event_id,
            variables,
            dedup_key=f"appeal:{event.appeal_id}",
        )

    async def notice_commendation(self, event: CommendationAwarded, source_event_id: str) -> None:
        await self._create(
            event.subject_id,
            NoticeType.COMMENDATION,
            source_event_id,
            {"award": event.award, "year": event.year, "points": event.points},
            dedup_key=f"commendation:{event.award}:{event.year}",
        )

    # --- the one path that makes a notice --------------------------------------------------------

    async def _create(
        self,
        recipient_id: uuid.UUID,
        notice_type: NoticeType,
        source_event_id: str,
        variables: dict[str, object],
        *,
        dedup_key: str | None = None,
        partner: dict[str, object] | None = None,
        announced: bool = True,
    ) -> None:
        """A notice to a recipient; `announced`: one the registry must have announced (every
        subject). Notify makes no recipient, and no notice, for a subject the registry never had:
        the consumer waits a bounded time for its registration, then dead-letters the event."""
        key = dedup_key or f"event:{source_event_id}"
        notice = new_notice(
            recipient_id=recipient_id,
            notice_type=notice_type,
            source_event_id=source_event_id,
            correlation_id=current_context().correlation_id,
            traceparent=current_traceparent(),
            variables=variables,
            now=self._clock.now(),
            dedup_key=key,
        )
        async with self._database.transaction() as connection:
            notices = NoticeRepository(connection)
            added = await notices.add_unless_made(notice, announced=announced)
            # Not made and not made before: the insert found no recipient. Asked of the notice,
            # not of the recipient: a recipient announced just after the insert (each statement
            # sees what is committed when it starts) would pass, and the notice would be lost.
            if not added.made and announced and not await notices.made_before(notice):
                raise UnknownSubject(recipient_id, "recipient")
            if added.made and added.partners and partner is not None:
                await queue_partner_messages(notices, self._clock.now(), notice_type, key, partner)


def _about_a_resident(
    event: ScoreChanged | GradeChanged | GreenChannelGranted | GreenChannelLost,
) -> bool:
    """A resident's own ledger (personal rules) is not a recipient: notices go to households and
    organisations, and a personal entry that counts toward the household already changes the
    household's score, which is noticed there."""
    return event.subject_kind == CreditSubjectKind.RESIDENT


def _opened_note(subject: uuid.UUID, key: str | None, sealed: str) -> str | None:
    """The inspector's note inspections sealed (under `key`, bound to the subject); None once a
    key it needs is destroyed."""
    if key is None:
        return None
    try:
        return Sealer([key]).open(str(subject), sealed).get("note")
    except SealBroken as error:
        # Sealed for another subject, or altered: no retry can open it.
        raise MalformedEvent(f"sealed note of {subject}: {error}") from error
