"""Partner-readable credit events on `linli.partner.credit.v1`, keyed by the subject.

What partner agencies may know of the ledger: a subject's grade and green channel, with its kind,
pseudonymous id, community and dates. No personal data: no names, ID numbers, phones, e-mails or
addresses, and no entries or their causes. These types are compared for *full* compatibility
(old and new readers alike): a later field needs a default, and enums never widen.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime

from linli_shared.contracts import topics
from linli_shared.contracts.base import EventData
from linli_shared.contracts.credit import CreditSubjectKind


class _PartnerCreditEvent(EventData):
    topic: ClassVar[str] = topics.PARTNER_CREDIT
    key_field: ClassVar[str] = "subject_id"
    partner_readable: ClassVar[bool] = True

    subject_id: UUID
    subject_kind: CreditSubjectKind
    community_id: str | None


class PartnerGradeChanged(_PartnerCreditEvent):
    """A subject's integrity grade changed; it holds from `effective_at`."""

    event_type: ClassVar[str] = "linli.credit.partner-grade.changed.v1"

    grade_before: str
    grade: str
    effective_at: AwareDatetime


class PartnerGreenChannelGranted(_PartnerCreditEvent):
    """A subject gained the green channel (priority handling) from `effective_from`, valid
    through `valid_until` unless re-evaluated."""

    event_type: ClassVar[str] = "linli.credit.partner-green-channel.granted.v1"

    grade: str
    effective_from: date
    valid_until: date


class PartnerGreenChannelRevoked(_PartnerCreditEvent):
    """A subject lost the green channel from `effective_from` (grade, consent or account)."""

    event_type: ClassVar[str] = "linli.credit.partner-green-channel.revoked.v1"

    grade: str
    effective_from: date


PARTNER_CREDIT_EVENTS: tuple[type[EventData], ...] = (
    PartnerGradeChanged,
    PartnerGreenChannelGranted,
    PartnerGreenChannelRevoked,
)
