"""Access and copy: what every service holds about a resident, for a data-subject request
(docs/privacy.md, "Access and copy").

The registry announces `access.requested` on `linli.registry.v1` with a public key made for that
request alone; each service answers on its own stream with the resident's records sealed to it
(`linli_shared.crypto.seal_to`), so the records never travel in clear and only the registry
opens them. The events themselves carry ids, counts and the sealed records only.

The answers share one shape (`AccessAnswered`), one event type per producing service, since a
type travels on one stream only.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field

from linli_shared.contracts import topics
from linli_shared.contracts.base import EventData


class AccessRequested(EventData):
    """A resident asked what the platform holds about them: every service is to answer with
    its records of them, sealed to `public_key` (X25519, URL-safe base64)."""

    event_type: ClassVar[str] = "linli.registry.access.requested.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "household_id"

    access_request_id: UUID
    household_id: UUID
    resident_id: UUID
    public_key: str = Field(
        pattern=r"^[A-Za-z0-9_-]{43}=$",
        description="The request's X25519 public key: 32 bytes, URL-safe base64",
    )
    requested_at: AwareDatetime


class AccessAnswered(EventData):
    """A service's records of the resident, sealed to the request's public key under the
    context `access_context(access_request_id, service)`; `record_count` of them."""

    access_request_id: UUID
    household_id: UUID
    resident_id: UUID
    record_count: int
    records_sealed: str
    answered_at: AwareDatetime

    key_field: ClassVar[str] = "household_id"
    service: ClassVar[str]


class InspectionsAccessAnswered(AccessAnswered):
    event_type: ClassVar[str] = "linli.inspections.access.answered.v1"
    topic: ClassVar[str] = topics.INSPECTIONS
    service: ClassVar[str] = "inspections"


class CreditAccessAnswered(AccessAnswered):
    event_type: ClassVar[str] = "linli.credit.access.answered.v1"
    topic: ClassVar[str] = topics.CREDIT
    service: ClassVar[str] = "credit"


class NotifyAccessAnswered(AccessAnswered):
    event_type: ClassVar[str] = "linli.notify.access.answered.v1"
    topic: ClassVar[str] = topics.NOTIFY
    service: ClassVar[str] = "notify"


ANSWERS: tuple[type[AccessAnswered], ...] = (
    InspectionsAccessAnswered,
    CreditAccessAnswered,
    NotifyAccessAnswered,
)


class AccessRecord(BaseModel):
    """One record a service holds about the resident (what travels sealed, never in clear):
    its category, the values, why the service holds it and how long it keeps it."""

    category: str
    what: dict[str, Any] = Field(default_factory=dict)
    purpose: str
    retention: str


class AccessRecords(BaseModel):
    records: list[AccessRecord] = Field(default_factory=list)


def access_context(access_request_id: UUID, service: str) -> str:
    """What a service's sealed answer is bound to: it opens for that request and service only."""
    return f"linli access {access_request_id} {service}"
