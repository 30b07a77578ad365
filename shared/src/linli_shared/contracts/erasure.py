"""Erasure of a resident's or a household's personal data, across the services (docs/privacy.md).

The registry erases its own records and announces `erasure.requested` on `linli.registry.v1`;
each service removes its copies in one transaction and answers `erasure.applied` on its own
stream, saying how many of what it removed; once every service has answered, the registry
announces `erasure.completed` with the whole report. The events carry ids only (pseudonyms):
never what was erased.

The answers share one shape (`ErasureApplied`), one event type per producing service, since a
type travels on one stream only.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from linli_shared.contracts import topics
from linli_shared.contracts.base import EventData


class ErasureRequested(EventData):
    """The registry erased a resident (`resident_id`) or a whole household (`resident_id`
    null): every service is to remove what it holds of them."""

    event_type: ClassVar[str] = "linli.registry.erasure.requested.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "household_id"

    erasure_id: UUID
    household_id: UUID
    resident_id: UUID | None = None
    requested_at: AwareDatetime


class ErasureCompleted(EventData):
    """Every service has removed its copies: `removed[service][category]` rows or values."""

    event_type: ClassVar[str] = "linli.registry.erasure.completed.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "household_id"

    erasure_id: UUID
    household_id: UUID
    resident_id: UUID | None = None
    removed: dict[str, dict[str, int]] = Field(default_factory=dict)
    completed_at: AwareDatetime


class ErasureApplied(EventData):
    """A service removed its copies: `removed[category]` rows or values (0 where it held none)."""

    erasure_id: UUID
    household_id: UUID
    resident_id: UUID | None = None
    removed: dict[str, int] = Field(default_factory=dict)
    applied_at: AwareDatetime

    key_field: ClassVar[str] = "household_id"
    service: ClassVar[str]


class InspectionsErasureApplied(ErasureApplied):
    event_type: ClassVar[str] = "linli.inspections.erasure.applied.v1"
    topic: ClassVar[str] = topics.INSPECTIONS
    service: ClassVar[str] = "inspections"


class CreditErasureApplied(ErasureApplied):
    event_type: ClassVar[str] = "linli.credit.erasure.applied.v1"
    topic: ClassVar[str] = topics.CREDIT
    service: ClassVar[str] = "credit"


class NotifyErasureApplied(ErasureApplied):
    event_type: ClassVar[str] = "linli.notify.erasure.applied.v1"
    topic: ClassVar[str] = topics.NOTIFY
    service: ClassVar[str] = "notify"


# Who answers an erasure besides the registry, and with which event.
ANSWERS: tuple[type[ErasureApplied], ...] = (
    InspectionsErasureApplied,
    CreditErasureApplied,
    NotifyErasureApplied,
)
