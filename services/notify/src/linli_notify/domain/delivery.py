"""Delivery: the service-wide delivery policy, what a recipient chose, and the records of each
attempt (the delivery log, partner webhook messages). Pure values, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from linli_notify.domain.notice import DEFAULT_WEBHOOK_SCHEDULE, Channel, QuietHours

# The template that gathers several held notices into one message.
DIGEST = "digest"


class DeliveryPolicy(BaseModel):
    """The service-wide knobs of delivery (per-recipient ones live on the recipient), loaded
    from the settings by the composition root."""

    model_config = ConfigDict(frozen=True, ignored_types=(cached_property,))

    max_rounds: int = Field(default=5, ge=1, description="Rounds through the channels")
    time_zone: str = "Asia/Shanghai"
    digest_time: time = time(8, 0)
    webhook_schedule: tuple[timedelta, ...] = Field(default=DEFAULT_WEBHOOK_SCHEDULE, min_length=1)
    webhook_disable_after: int = Field(default=20, ge=1)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, ZoneInfoNotFoundError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass(frozen=True)
class Preferences:
    """A recipient's own choices: the channel order, quiet hours and the daily digest."""

    channel_order: list[Channel] | None
    quiet_hours: QuietHours | None
    digest: bool


@dataclass(frozen=True)
class RenderedNotice:
    subject: str
    body: str
    sms: str


@dataclass(frozen=True)
class Delivery:
    """One attempt in a notice's delivery log."""

    channel: str
    address: str
    status: str
    response: str | None
    attempted_at: datetime


@dataclass(frozen=True)
class WebhookMessage:
    id: str
    endpoint_id: uuid.UUID
    notice_type: str
    dedup_key: str
    payload: dict[str, Any]
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class WebhookAttempt:
    status: str
    status_code: int | None
    response: str | None
    attempted_at: datetime
