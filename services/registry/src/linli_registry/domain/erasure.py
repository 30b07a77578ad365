"""Erasure of a resident or a whole household: pure rules, no I/O (docs/privacy.md).

The registry erases first, in its own records, then every other service removes its copies and
reports what it removed; the erasure is complete when all of them have. A resident is erased by
leaving the household's members (the head only once another member is head, so an active
household always has one); a household by keeping only its ids, place and dates.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from linli_registry.domain.household import HEAD, Household, Status
from linli_shared.rules import RuleViolation

# Who must report before an erasure is complete (the registry reports when it starts it).
SERVICES = ("registry", "inspections", "credit", "notify")
ERASED = "erased"


class CannotErase(RuleViolation):
    """An erasure the registry's rules refuse."""


@dataclass(frozen=True)
class Erasure:
    id: uuid.UUID
    household_id: uuid.UUID
    # None: the whole household.
    resident_id: uuid.UUID | None
    reason: str
    requested_by: str
    requested_at: datetime
    # What each service removed, by category: {service: {category: count}}.
    removed: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    completed_at: datetime | None = None

    @property
    def status(self) -> str:
        return "completed" if self.completed_at is not None else "in_progress"

    @property
    def waiting_for(self) -> tuple[str, ...]:
        return tuple(service for service in SERVICES if service not in self.removed)


def erase_resident(household: Household, resident_id: uuid.UUID) -> Household:
    """The household without the resident: the next version, even when deregistered."""
    leaving = next((m for m in household.members if m.resident_id == resident_id), None)
    if leaving is None:
        raise CannotErase("resident_id", f"no resident {resident_id} in household {household.id}")
    staying = tuple(m for m in household.members if m.resident_id != resident_id)
    if household.status is Status.ACTIVE and leaving.relation == HEAD and staying:
        raise CannotErase(
            "resident_id",
            "the head of a registered household: make another member head first",
        )
    return replace(household, members=staying, version=household.version + 1)


def erase_household(household: Household, now: datetime) -> Household:
    """The household with its ids, place and dates only, deregistered if it was not."""
    return replace(
        household,
        address="",
        members=(),
        contact_email="",
        contact_phone=None,
        status=Status.DEREGISTERED,
        deregistered_at=household.deregistered_at or now,
        deregistration_reason=ERASED,
        version=household.version + 1,
    )


def scrubbed_summary(summary: Mapping[str, Any], resident_id: uuid.UUID | None) -> dict[str, Any]:
    """A history entry without the erased resident (or, for a household, without its address
    and members): the versions stay, what they said of the person goes."""
    members = summary.get("members") or []
    if resident_id is None:
        return {**summary, "address": "", "members": [], "deregistration_reason": ERASED}
    kept = [m for m in members if m.get("resident_id") != str(resident_id)]
    return {**summary, "members": kept}


def answered(erasure: Erasure, service: str, removed: Mapping[str, int], now: datetime) -> Erasure:
    """The erasure with `service`'s report; complete once every service has reported. A
    report repeated (a redelivered event) changes nothing."""
    if service in erasure.removed:
        return erasure
    reports = {**erasure.removed, service: dict(removed)}
    complete = all(name in reports for name in SERVICES)
    return replace(erasure, removed=reports, completed_at=now if complete else None)
