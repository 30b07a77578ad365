"""Notices: what is said to whom about which event, and whether it reached them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class NoticeType(StrEnum):
    RECTIFICATION = "rectification"
    SCORE_CHANGE = "score_change"


class NoticeStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class Recipient:
    id: uuid.UUID
    name: str
    email: str
    address: str
    locale: str = "zh-CN"


@dataclass(frozen=True)
class Notice:
    id: uuid.UUID
    recipient_id: uuid.UUID
    notice_type: NoticeType
    source_event_id: str
    correlation_id: str
    traceparent: str | None
    variables: dict[str, object]
    status: NoticeStatus
    attempts: int
    created_at: datetime
    delivered_at: datetime | None = None


def new_notice(
    *,
    recipient_id: uuid.UUID,
    notice_type: NoticeType,
    source_event_id: str,
    correlation_id: str,
    traceparent: str | None,
    variables: dict[str, object],
    now: datetime,
) -> Notice:
    return Notice(
        id=uuid.uuid4(),
        recipient_id=recipient_id,
        notice_type=notice_type,
        source_event_id=source_event_id,
        correlation_id=correlation_id,
        traceparent=traceparent,
        variables=variables,
        status=NoticeStatus.PENDING,
        attempts=0,
        created_at=now,
    )


def should_give_up(attempts: int, max_attempts: int) -> bool:
    return attempts >= max_attempts


def retry_delay(attempts: int) -> timedelta:
    """Back off between delivery attempts: 5 s, 10 s, 20 s … capped at 10 minutes."""
    return min(timedelta(seconds=5 * 2 ** (attempts - 1)), timedelta(minutes=10))
