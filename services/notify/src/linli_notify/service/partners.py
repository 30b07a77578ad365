"""Partner messages: what a notice queues for each partner webhook endpoint subscribed to it
(the webhook lane of the dispatcher posts them: service/webhook_delivery.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from linli_notify.adapters.repository import NoticeRepository
from linli_notify.domain.delivery import WebhookMessage
from linli_notify.domain.notice import PARTNER_NOTICE_TYPES, NoticeType


async def queue_partner_messages(
    notices: NoticeRepository,
    now: datetime,
    notice_type: NoticeType,
    dedup_key: str,
    data: dict[str, object],
    department: str | None = None,
) -> None:
    """One Standard Webhooks message per subscribed, enabled partner endpoint (once per key)."""
    if notice_type not in PARTNER_NOTICE_TYPES:
        raise ValueError(f"{notice_type} is not a partner notice type")
    payload = {
        "type": f"notice.{notice_type.value}",
        "timestamp": now.isoformat(),
        "data": {k: v for k, v in data.items() if v is not None},
    }
    await notices.add_messages(
        [
            WebhookMessage(
                id=f"msg_{uuid.uuid4().hex}",
                endpoint_id=endpoint.id,
                notice_type=notice_type.value,
                dedup_key=dedup_key,
                payload=payload,
                status="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
                delivered_at=None,
            )
            for endpoint in await notices.endpoints()
            if endpoint.enabled and endpoint.wants(notice_type, department)
        ]
    )
