"""The green channel at the service hall: the audited check of a subject's priority right,
answered from the subject's record as it is when asked. (Grants and withdrawals by grade are the
evaluation's, `scheduled`; the check runs it at once when the record has moved since.)"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from linli_credit.adapters.reads import AccountReads
from linli_credit.domain.ledger import Account
from linli_credit.domain.policy import Policy
from linli_credit.service.scheduled import ScheduledUseCases
from linli_credit.service.scoring import Scoring
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.reach import EVERYWHERE, Reach


@dataclass(frozen=True)
class GreenChannelAnswer:
    subject_id: uuid.UUID
    granted: bool
    grade: str
    evaluated_at: datetime | None
    valid_until: date | None
    reason: str
    check_id: int


class GreenChannelUseCases:
    def __init__(self, database: Database, scoring: Scoring, evaluation: ScheduledUseCases) -> None:
        self._reads = AccountReads(database)
        self._scoring = scoring
        self._evaluation = evaluation

    async def check_green_channel(
        self, subject_id: uuid.UUID, *, checked_by: str, reach: Reach = EVERYWHERE
    ) -> GreenChannelAnswer:
        """The service hall's question, answered from the subject's record now and audited (the
        check is recorded before the answer is given).

        When the record earns other than what the last evaluation granted (a reward raised the
        grade, a grant lapsed, or none was evaluated yet), the evaluation runs now, with its
        grant or withdrawal events, rather than leaving the hall the answer of an hour ago."""
        now = self._scoring.clock.now()
        policy = self._scoring.policy_now()
        today = policy.local_date(now)
        account = await self._reads.account(subject_id)
        if account is None or not reach.covers(account.grid_id, account.subject_id):
            raise NotFound("credit account", subject_id)
        if _earns(account, policy) != account.holds_green_channel(today):
            account = await self._evaluation.evaluate(subject_id)
        granted = account.holds_green_channel(today)
        if granted:
            reason = f"grade {account.grade} earns the green channel"
        else:
            refusal = account.refusal(policy)
            reason = refusal or f"grade {account.grade} does not earn the green channel"
        check_id = await self._reads.add_check(
            subject_id=subject_id,
            checked_by=checked_by,
            checked_at=now,
            granted=granted,
            grade=account.grade,
            valid_until=account.green_valid_until if granted else None,
            reason=reason,
        )
        return GreenChannelAnswer(
            subject_id=subject_id,
            granted=granted,
            grade=account.grade,
            evaluated_at=account.green_evaluated_at,
            valid_until=account.green_valid_until if granted else None,
            reason=reason,
            check_id=check_id,
        )


def _earns(account: Account, policy: Policy) -> bool:
    return account.refusal(policy) is None and policy.green_channel_for(account.grade)
