from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, Field

from linli_credit.domain.appeal import Appeal
from linli_credit.domain.ledger import Account, Entry
from linli_credit.service.green_channel import GreenChannelAnswer
from linli_credit.service.reads import DataCopy, Explanation, GradeReport
from linli_shared.contracts.common import Severity
from linli_shared.contracts.credit import CreditSubjectKind
from linli_shared.pagination import Page


class ScoringOut(BaseModel):
    active: bool = Field(description="Whether new causes make entries for this subject")
    reason: str | None = Field(default=None, description="Why not, when they do not")


class ScoreOut(BaseModel):
    subject_id: uuid.UUID
    subject_kind: CreditSubjectKind
    household_id: uuid.UUID | None = Field(default=None, description="A resident's household")
    score: int
    grade: str
    policy_version: str
    scoring: ScoringOut

    @classmethod
    def of(cls, account: Account, refusal: str | None) -> ScoreOut:
        return cls(
            subject_id=account.subject_id,
            subject_kind=account.subject_kind,
            household_id=account.household_id,
            score=account.score,
            grade=account.grade,
            policy_version=account.policy_version,
            scoring=ScoringOut(active=refusal is None, reason=refusal),
        )


class EntryOut(BaseModel):
    id: uuid.UUID
    points: int
    reason_code: str
    rule: str
    policy_version: str
    source_event_id: str
    severity: Severity | None
    occurred_at: datetime
    recorded_at: datetime
    counts_until: datetime | None
    refers_to: uuid.UUID | None
    inspection_id: uuid.UUID | None
    cause: dict[str, Any]

    @classmethod
    def of(cls, entry: Entry, **more: Any) -> Self:
        """`more`: a subclass's own fields (`counts`)."""
        return cls(
            id=entry.id,
            points=entry.points,
            reason_code=entry.reason_code,
            rule=entry.rule,
            policy_version=entry.policy_version,
            source_event_id=entry.source_event_id,
            severity=entry.severity,
            occurred_at=entry.occurred_at,
            recorded_at=entry.recorded_at,
            counts_until=entry.counts_until,
            refers_to=entry.refers_to,
            inspection_id=entry.inspection_id,
            cause=dict(entry.cause),
            **more,
        )


class EntriesOut(Page[EntryOut]):
    """A page of a subject's entries, oldest recorded first."""

    subject_id: uuid.UUID


class ExplainedEntryOut(EntryOut):
    counts: bool = Field(description="Whether the entry counts at the explained instant")


class ExplanationOut(BaseModel):
    subject_id: uuid.UUID
    subject_kind: CreditSubjectKind
    household_id: uuid.UUID | None = Field(default=None, description="A resident's household")
    at: datetime
    known_at: datetime | None
    policy_version: str = Field(description="The policy whose base, bounds and grades apply")
    base_score: int
    min_score: int
    max_score: int
    counting_points: int = Field(description="Sum of the points of the counting entries")
    score: int = Field(description="clamp(base_score + counting_points, min_score, max_score)")
    grade: str
    scoring: ScoringOut
    entries: list[ExplainedEntryOut] = Field(description="Every entry, oldest recorded first")

    @classmethod
    def of(cls, explanation: Explanation, known_at: datetime | None) -> ExplanationOut:
        evaluation = explanation.evaluation
        counting = {e.id for e in evaluation.counting}
        visible = [e for e in explanation.entries if known_at is None or e.recorded_at <= known_at]
        return cls(
            subject_id=explanation.account.subject_id,
            subject_kind=explanation.account.subject_kind,
            household_id=explanation.account.household_id,
            at=evaluation.at,
            known_at=known_at,
            policy_version=evaluation.policy.version,
            base_score=evaluation.policy.base_score,
            min_score=evaluation.policy.min_score,
            max_score=evaluation.policy.max_score,
            counting_points=evaluation.balance,
            score=evaluation.score,
            grade=evaluation.grade,
            scoring=ScoringOut(
                active=explanation.scoring_refusal is None, reason=explanation.scoring_refusal
            ),
            entries=[ExplainedEntryOut.of(e, counts=e.id in counting) for e in visible],
        )


class GreenChannelOut(BaseModel):
    subject_id: uuid.UUID
    granted: bool
    grade: str
    evaluated_at: datetime | None = Field(description="When the right was last evaluated")
    valid_until: date | None = Field(description="Until when a granted right holds")
    reason: str
    check_id: int = Field(description="The audit record of this check")

    @classmethod
    def of(cls, answer: GreenChannelAnswer) -> GreenChannelOut:
        return cls(
            subject_id=answer.subject_id,
            granted=answer.granted,
            grade=answer.grade,
            evaluated_at=answer.evaluated_at,
            valid_until=answer.valid_until,
            reason=answer.reason,
            check_id=answer.check_id,
        )


class GreenChannelCheckOut(BaseModel):
    checked_at: datetime
    checked_by: str = Field(description="Who asked (the service hall's clerk, or the resident)")
    granted: bool
    grade: str | None
    valid_until: date | None
    reason: str | None


class SubjectRecordOut(BaseModel):
    account: ScoreOut
    entries: list[EntryOut] = Field(description="Every entry, oldest recorded first")
    appeals: list[AppealOut]
    green_channel_checks: list[GreenChannelCheckOut] = Field(description="Newest first")


class DataCopyOut(BaseModel):
    """What credit holds about a resident, for the resident."""

    resident_id: uuid.UUID
    records: list[SubjectRecordOut] = Field(
        description="The resident's own record, then their household's (while a member)"
    )

    @classmethod
    def of(
        cls, copy: DataCopy, refusal: Callable[[Account], str | None], today: date
    ) -> DataCopyOut:
        return cls(
            resident_id=copy.resident_id,
            records=[
                SubjectRecordOut(
                    account=ScoreOut.of(record.account, refusal(record.account)),
                    entries=[EntryOut.of(e) for e in record.entries],
                    appeals=[AppealOut.of(a, today) for a in record.appeals],
                    green_channel_checks=[
                        GreenChannelCheckOut(
                            checked_at=c["checked_at"],
                            checked_by=c["checked_by"],
                            granted=c["granted"],
                            grade=c["grade"],
                            valid_until=c["valid_until"],
                            reason=c["reason"],
                        )
                        for c in record.checks
                    ],
                )
                for record in copy.records
            ],
        )


class VolunteerHoursIn(BaseModel):
    hours: int = Field(ge=1, le=1000, description="Whole hours served")
    served_on: date
    activity: str = Field(min_length=1, max_length=200)
    resident: str | None = Field(
        default=None, max_length=100, description="Which member served (a reference, not an ID)"
    )
    resident_id: uuid.UUID | None = Field(
        default=None,
        description=(
            "The resident (household member) who served, when the subject is their household; "
            "needed where the policy makes volunteer hours personal"
        ),
    )


class FiveGoodCriteriaIn(BaseModel):
    patriotic_law_abiding_public_spirited: bool
    learning_and_dedicated_at_work: bool
    equality_respect_for_elders_good_neighbours: bool
    modern_customs: bool
    thrift_and_environmental_protection: bool


class FiveGoodAwardIn(BaseModel):
    year: int = Field(ge=2000, le=2100)
    criteria: FiveGoodCriteriaIn


class RepairIn(BaseModel):
    note: str = Field(min_length=1, max_length=2000, description="The application's grounds")


class AppealIn(BaseModel):
    entry_id: uuid.UUID
    grounds: str = Field(min_length=1, max_length=4000)
    resident: str | None = Field(
        default=None,
        max_length=100,
        description="Set when staff file on behalf of a resident (a reference, not an ID)",
    )


class DecisionIn(BaseModel):
    outcome: Literal["upheld", "rejected"]
    reason: str = Field(min_length=1, max_length=4000)


class AppealOut(BaseModel):
    id: uuid.UUID
    subject_id: uuid.UUID
    entry_id: uuid.UUID
    state: str
    filed_by: str
    grounds: str
    filed_at: datetime
    decide_by: date
    overdue: bool
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    reversal_entry_id: uuid.UUID | None

    @classmethod
    def of(cls, appeal: Appeal, today: date) -> AppealOut:
        return cls(
            id=appeal.id,
            subject_id=appeal.subject_id,
            entry_id=appeal.entry_id,
            state=appeal.state,
            filed_by=appeal.filed_by,
            grounds=appeal.grounds,
            filed_at=appeal.filed_at,
            decide_by=appeal.decide_by,
            overdue=appeal.overdue(today),
            decided_by=appeal.decided_by,
            decided_at=appeal.decided_at,
            decision_reason=appeal.decision_reason,
            reversal_entry_id=appeal.reversal_entry_id,
        )


class AppealsOut(Page[AppealOut]):
    """A page of appeals, oldest first."""


class ListedSubjectOut(BaseModel):
    subject_id: uuid.UUID
    score: int
    grade: str


class GradeReportOut(BaseModel):
    community_id: str
    quarter: str
    at: datetime = Field(description="The instant evaluated: the quarter's end, or now")
    policy_version: str
    distribution: dict[str, int]
    red_list: list[ListedSubjectOut]
    black_list: list[ListedSubjectOut]

    @classmethod
    def of(cls, report: GradeReport) -> GradeReportOut:
        return cls(
            community_id=report.community_id,
            quarter=report.quarter,
            at=report.at,
            policy_version=report.policy_version,
            distribution=report.distribution,
            red_list=[
                ListedSubjectOut(subject_id=s, score=p, grade=g) for s, p, g in report.red_list
            ],
            black_list=[
                ListedSubjectOut(subject_id=s, score=p, grade=g) for s, p, g in report.black_list
            ],
        )


class PolicyOut(BaseModel):
    version: str
    effective_from: date
    time_zone: str
    in_effect: bool


class PoliciesOut(Page[PolicyOut]):
    """The policy versions, oldest first."""
