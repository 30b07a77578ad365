"""Events published by notify on `linli.notify.v1`: proof that a notice reached someone, or not.

`inspection_id` (added after 1.0.0, optional) names the inspection a notice is about (a
rectification notice, a re-inspection result, an escalation), so inspections can start a case's
comply-by period when its responsible party was told. Older events lack it.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime

from linli_shared.contracts import topics
from linli_shared.contracts.base import EventData


class NoticeDelivered(EventData):
    event_type: ClassVar[str] = "linli.notify.notice.delivered.v1"
    topic: ClassVar[str] = topics.NOTIFY
    key_field: ClassVar[str] = "recipient_id"

    notice_id: UUID
    recipient_id: UUID
    notice_type: str
    channel: str
    source_event_id: str
    delivered_at: AwareDatetime
    # The inspection the notice is about, if any (added after 1.0.0).
    inspection_id: UUID | None = None


class NoticeFailed(EventData):
    event_type: ClassVar[str] = "linli.notify.notice.failed.v1"
    topic: ClassVar[str] = topics.NOTIFY
    key_field: ClassVar[str] = "recipient_id"

    notice_id: UUID
    recipient_id: UUID
    notice_type: str
    channel: str
    source_event_id: str
    reason: str
    failed_at: AwareDatetime
    # The inspection the notice is about, if any (added after 1.0.0).
    inspection_id: UUID | None = None
