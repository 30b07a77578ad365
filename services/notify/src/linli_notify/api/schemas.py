from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from linli_notify.adapters.repository import Delivery
from linli_notify.domain.notice import Notice


class DeliveryOut(BaseModel):
    channel: str
    address: str
    status: str
    response: str | None
    attempted_at: datetime


class NoticeOut(BaseModel):
    id: uuid.UUID
    recipient_id: uuid.UUID
    notice_type: str
    status: str
    source_event_id: str
    correlation_id: str
    attempts: int
    created_at: datetime
    delivered_at: datetime | None
    deliveries: list[DeliveryOut] | None = None

    @classmethod
    def of(cls, notice: Notice, deliveries: list[Delivery] | None = None) -> NoticeOut:
        return cls(
            id=notice.id,
            recipient_id=notice.recipient_id,
            notice_type=notice.notice_type.value,
            status=notice.status.value,
            source_event_id=notice.source_event_id,
            correlation_id=notice.correlation_id,
            attempts=notice.attempts,
            created_at=notice.created_at,
            delivered_at=notice.delivered_at,
            deliveries=(
                [DeliveryOut(**d.__dict__) for d in deliveries] if deliveries is not None else None
            ),
        )


class NoticePage(BaseModel):
    items: list[NoticeOut]
    limit: int
    offset: int
