"""The green channel at the service hall: the audited check of a subject's priority right.
(Grants and withdrawals by grade are the scheduled evaluation's, `scheduled`.)"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from linli_credit.adapters.reads import AccountReads
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
    def __init__(self, database: Database, scoring: Scoring) -> None:
        self._reads = AccountReads(database)
        self._scoring = scoring

    async def check_green_channel(
        self, subject_id: uuid.UUID, *, checked_by: str, reach: Reach = EVERYWHERE
    ) -> GreenChannelAnswer:
        """The service hall's question, answered from the projection and audited (the check is
        recorded before the answer is given; it needs no lock, so it is one statement)."""
        now = self._scoring.clock.now()
        policy = self._scoring.policy_now()
        account = await self._reads.account(subject_id)
        if account is None or not reach.covers(account.grid_id):
            raise NotFound("credit account", subject_id)
        granted = account.holds_green_channel(policy.local_date(now))
        if granted:
            reason = f"grade {account.grade} earns the green channel"
        elif account.green_channel:
            reason = f"the grant lapsed on {account.green_valid_until}: not re-evaluated"
        elif account.green_evaluated_at is None:
            reason = "not evaluated yet: the scheduled evaluation grants it by grade"
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
