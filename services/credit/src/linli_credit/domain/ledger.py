"""Accounts and their append-only entries. A score is the policy applied to the entries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from linli_credit.domain.policy import Policy
from linli_shared.contracts.common import Severity, SubjectKind

FAILED_INSPECTION = "inspection.failed"


@dataclass(frozen=True)
class Entry:
    id: uuid.UUID
    subject_id: uuid.UUID
    points: int
    reason_code: str
    policy_version: str
    source_event_id: str
    severity: Severity | None
    occurred_at: datetime
    recorded_at: datetime


@dataclass(frozen=True)
class Account:
    subject_id: uuid.UUID
    subject_kind: SubjectKind
    score: int
    grade: str
    opened_at: datetime

    @classmethod
    def open(
        cls, subject_id: uuid.UUID, subject_kind: SubjectKind, policy: Policy, now: datetime
    ) -> Account:
        return cls(
            subject_id, subject_kind, policy.base_score, policy.grade(policy.base_score), now
        )

    def post(self, entry: Entry, policy: Policy) -> Account:
        score = policy.clamp(self.score + entry.points)
        return replace(self, score=score, grade=policy.grade(score))


def failed_inspection_entry(
    account: Account,
    *,
    severity: Severity,
    source_event_id: str,
    occurred_at: datetime,
    policy: Policy,
    now: datetime,
) -> Entry:
    return Entry(
        id=uuid.uuid4(),
        subject_id=account.subject_id,
        points=policy.points_for_failed_inspection(severity),
        reason_code=FAILED_INSPECTION,
        policy_version=policy.version,
        source_event_id=source_event_id,
        severity=severity,
        occurred_at=occurred_at,
        recorded_at=now,
    )


def score_of(entries: list[Entry], policy: Policy) -> int:
    """The score the entries make, posted in order from the base score."""
    score = policy.base_score
    for entry in entries:
        score = policy.clamp(score + entry.points)
    return score
