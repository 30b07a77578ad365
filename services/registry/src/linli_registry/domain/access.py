"""Access and copy: a resident's request for what every service holds about them; pure rules,
no I/O (docs/privacy.md, "Access and copy").

The registry contributes its own records when the request starts, every other service answers
with its records (sealed, through events); the request is complete when all of them have.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

# Who must answer before a request is complete (the registry answers when it starts it).
SERVICES = ("registry", "inspections", "credit", "notify")


@dataclass(frozen=True)
class AccessRequest:
    id: uuid.UUID
    household_id: uuid.UUID
    resident_id: uuid.UUID
    reason: str
    requested_by: str
    requested_at: datetime
    # How many records each service answered with: {service: count}.
    answered: Mapping[str, int] = field(default_factory=dict)
    completed_at: datetime | None = None

    @property
    def status(self) -> str:
        return "completed" if self.completed_at is not None else "in_progress"

    @property
    def waiting_for(self) -> tuple[str, ...]:
        return tuple(service for service in SERVICES if service not in self.answered)


def answered(request: AccessRequest, service: str, count: int, now: datetime) -> AccessRequest:
    """The request with `service`'s answer; complete once every service has answered. An
    answer repeated (a redelivered event) changes nothing."""
    if service in request.answered:
        return request
    answers = {**request.answered, service: count}
    complete = all(name in answers for name in SERVICES)
    return replace(request, answered=answers, completed_at=now if complete else None)
