"""Events published by the credit ledger on `linli.credit.v1`, keyed by the subject."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime

from linli_shared.contracts import topics
from linli_shared.contracts.base import EventData


class CreditSubjectKind(StrEnum):
    """Whose ledger an entry is on: the inspected subjects (`SubjectKind`), and residents for
    the rules the policy makes personal (e.g. volunteer hours)."""

    HOUSEHOLD = "household"
    ORGANISATION = "organisation"
    RESIDENT = "resident"


class _AboutASubject(EventData):
    topic: ClassVar[str] = topics.CREDIT
    key_field: ClassVar[str] = "subject_id"

    subject_id: UUID
    subject_kind: CreditSubjectKind


class ScoreChanged(_AboutASubject):
    event_type: ClassVar[str] = "linli.credit.score.changed.v1"

    entry_id: UUID
    reason_code: str
    points: int
    score_before: int
    score_after: int
    grade_before: str
    grade_after: str
    policy_version: str
    source_event_id: str
    occurred_at: AwareDatetime


class GradeChanged(_AboutASubject):
    event_type: ClassVar[str] = "linli.credit.grade.changed.v1"

    grade_before: str
    grade_after: str
    score: int
    evaluated_at: AwareDatetime


class GreenChannelGranted(_AboutASubject):
    event_type: ClassVar[str] = "linli.credit.green-channel.granted.v1"

    grade: str
    valid_until: date


class GreenChannelLost(_AboutASubject):
    event_type: ClassVar[str] = "linli.credit.green-channel.lost.v1"

    grade: str


class AppealReceived(_AboutASubject):
    event_type: ClassVar[str] = "linli.credit.appeal.received.v1"

    appeal_id: UUID
    entry_id: UUID
    filed_by: str
    decide_by: date


class AppealDecided(_AboutASubject):
    event_type: ClassVar[str] = "linli.credit.appeal.decided.v1"

    appeal_id: UUID
    entry_id: UUID
    outcome: Literal["upheld", "rejected"]
    reason: str
    decided_by: str
    reversal_entry_id: UUID | None = None


class CommendationAwarded(_AboutASubject):
    """A five-good family award: a positive record and a commendation notice."""

    event_type: ClassVar[str] = "linli.credit.commendation.awarded.v1"

    award: Literal["five_good_family"]
    year: int
    entry_id: UUID
    points: int


class EntryRepaired(_AboutASubject):
    """A negative entry stopped counting: repaired on application, or expired by itself."""

    event_type: ClassVar[str] = "linli.credit.entry.repaired.v1"

    entry_id: UUID
    how: Literal["applied", "expired"]
    repaired_at: AwareDatetime


class AccountOpened(_AboutASubject):
    """A ledger account opened from the registry (or a resident's reopened in a new household)."""

    event_type: ClassVar[str] = "linli.credit.account.opened.v1"

    opened_at: AwareDatetime
    community_id: str | None = None
    household_id: UUID | None = None  # a resident's household
    reopened: bool = False


class AccountClosed(_AboutASubject):
    """An account closed: its ledger stays, new causes make no entries."""

    event_type: ClassVar[str] = "linli.credit.account.closed.v1"

    closed_at: AwareDatetime
    reason: Literal["deregistered", "left_household"]
    household_id: UUID | None = None
