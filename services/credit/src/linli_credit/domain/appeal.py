"""Appeals against ledger entries: filed by a resident or staff, decided by a credit officer.

received ──uphold──▶ upheld   (the entry and what followed from it are reversed, retroactively)
        └──reject──▶ rejected (with a reason)
An appeal is due for decision by `decide_by`; one still open after that is overdue.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal

from linli_credit.domain.ledger import APPEAL_REVERSAL, Entry
from linli_credit.domain.policy import Policy
from linli_shared.rules import RuleViolation

AppealState = Literal["received", "upheld", "rejected"]
Outcome = Literal["upheld", "rejected"]


class AppealConflict(Exception):
    """The appeal or its entry is not in a state that allows the step."""


@dataclass(frozen=True)
class Appeal:
    id: uuid.UUID
    subject_id: uuid.UUID
    entry_id: uuid.UUID
    state: AppealState
    filed_by: str
    grounds: str
    filed_at: datetime
    decide_by: date
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    reversal_entry_id: uuid.UUID | None = None

    def overdue(self, today: date) -> bool:
        return self.state == "received" and today > self.decide_by

    def decide(
        self,
        outcome: Outcome,
        *,
        reason: str,
        decided_by: str,
        now: datetime,
        reversal_entry_id: uuid.UUID | None = None,
    ) -> Appeal:
        if self.state != "received":
            raise AppealConflict(f"appeal {self.id} was already decided ({self.state})")
        if not reason.strip():
            raise RuleViolation("reason", "a decision needs a reason")
        return replace(
            self,
            state=outcome,
            decided_by=decided_by,
            decided_at=now,
            decision_reason=reason.strip(),
            reversal_entry_id=reversal_entry_id,
        )


def file_appeal(
    entry: Entry,
    subject_entries: list[Entry],
    appeals_of_entry: list[Appeal],
    *,
    grounds: str,
    filed_by: str,
    policy: Policy,
    now: datetime,
) -> Appeal:
    if not entry.is_penalty:
        raise RuleViolation("entry_id", "only penalties can be appealed against")
    if not grounds.strip():
        raise RuleViolation("grounds", "an appeal needs its grounds")
    last_day = policy.local_date(entry.recorded_at) + timedelta(days=policy.appeal_file_within_days)
    if policy.local_date(now) > last_day:
        raise RuleViolation(
            "entry_id",
            f"appeals against this entry were open until {last_day} "
            f"(appeals.file_within_days of policy {policy.version})",
        )
    if any(a.state == "received" for a in appeals_of_entry):
        raise AppealConflict(f"entry {entry.id} already has an appeal awaiting decision")
    if any(e.reason_code == APPEAL_REVERSAL and e.refers_to == entry.id for e in subject_entries):
        raise AppealConflict(f"entry {entry.id} was already overturned")
    return Appeal(
        id=uuid.uuid4(),
        subject_id=entry.subject_id,
        entry_id=entry.id,
        state="received",
        filed_by=filed_by,
        grounds=grounds.strip(),
        filed_at=now,
        decide_by=policy.local_date(now) + timedelta(days=policy.appeal_decide_within_days),
    )
