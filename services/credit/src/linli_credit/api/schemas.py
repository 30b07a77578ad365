from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from linli_credit.domain.ledger import Account, Entry
from linli_shared.contracts.common import Severity, SubjectKind


class ScoreOut(BaseModel):
    subject_id: uuid.UUID
    subject_kind: SubjectKind
    score: int
    grade: str

    @classmethod
    def of(cls, account: Account) -> ScoreOut:
        return cls(
            subject_id=account.subject_id,
            subject_kind=account.subject_kind,
            score=account.score,
            grade=account.grade,
        )


class EntryOut(BaseModel):
    id: uuid.UUID
    points: int
    reason_code: str
    policy_version: str
    source_event_id: str
    severity: Severity | None
    occurred_at: datetime
    recorded_at: datetime

    @classmethod
    def of(cls, entry: Entry) -> EntryOut:
        return cls(
            id=entry.id,
            points=entry.points,
            reason_code=entry.reason_code,
            policy_version=entry.policy_version,
            source_event_id=entry.source_event_id,
            severity=entry.severity,
            occurred_at=entry.occurred_at,
            recorded_at=entry.recorded_at,
        )


class EntriesOut(BaseModel):
    subject_id: uuid.UUID
    items: list[EntryOut]
