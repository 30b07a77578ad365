"""Events published by the credit ledger on `linli.credit.v1`."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from linli_shared.contracts import topics
from linli_shared.contracts.base import EventData
from linli_shared.contracts.common import SubjectKind


class ScoreChanged(EventData):
    event_type: ClassVar[str] = "linli.credit.score.changed.v1"
    topic: ClassVar[str] = topics.CREDIT
    key_field: ClassVar[str] = "subject_id"

    subject_id: UUID
    subject_kind: SubjectKind
    entry_id: UUID
    reason_code: str
    points: int
    score_before: int
    score_after: int
    grade_before: str
    grade_after: str
    policy_version: str
    source_event_id: str
    occurred_at: datetime
