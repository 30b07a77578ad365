from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, HttpUrl

from linli_notify.domain.delivery import Delivery, Preferences, WebhookAttempt, WebhookMessage
from linli_notify.domain.notice import (
    Channel,
    Notice,
    NoticeType,
    QuietHours,
    Recipient,
    WebhookEndpoint,
)
from linli_notify.service.inbox import InboxItem
from linli_notify.service.reads import DataCopy
from linli_shared.masks import mask_if_phone

MOBILE = r"^1\d{10}$"


class DeliveryOut(BaseModel):
    channel: str
    address: str = Field(description="Where it went; a mobile number masked (138****5678)")
    status: str
    response: str | None
    attempted_at: datetime

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        return cls(
            channel=delivery.channel,
            address=mask_if_phone(delivery.address),
            status=delivery.status,
            response=delivery.response,
            attempted_at=delivery.attempted_at,
        )


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
    channel: str | None = None
    critical: bool = False
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
            channel=notice.channel,
            critical=notice.critical,
            deliveries=(
                [DeliveryOut.of(d) for d in deliveries] if deliveries is not None else None
            ),
        )


class NoticePage(BaseModel):
    items: list[NoticeOut]
    total: int
    limit: int
    offset: int


# --- the in-app inbox ------------------------------------------------------------------------


class InboxItemOut(BaseModel):
    id: uuid.UUID
    notice_type: str
    subject: str | None
    body: str | None
    channel: str | None
    delivered_at: datetime | None
    read: bool
    read_at: datetime | None

    @classmethod
    def of(cls, item: InboxItem) -> InboxItemOut:
        notice = item.notice
        return cls(
            id=notice.id,
            notice_type=notice.notice_type.value,
            subject=item.subject,
            body=item.body,
            channel=notice.channel,
            delivered_at=notice.delivered_at,
            read=notice.read_at is not None,
            read_at=notice.read_at,
        )


class InboxPage(BaseModel):
    items: list[InboxItemOut]
    unread: int = Field(description="Unread notices of this recipient in all")
    total: int
    limit: int
    offset: int


class ReadState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    read: bool


# --- preferences -----------------------------------------------------------------------------


class QuietHoursIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: time = Field(description="Local time quiet hours begin, e.g. 22:00")
    end: time = Field(description="Local time they end, e.g. 07:00 (may be the next day)")


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel_order: list[Channel] | None = Field(
        default=None,
        min_length=1,
        description="Channels in the order to try; null follows the registry's preference",
    )
    quiet_hours: QuietHoursIn | None = None
    digest: bool = Field(default=False, description="Hold non-critical notices for a daily digest")

    def preferences(self) -> Preferences:
        quiet = self.quiet_hours
        return Preferences(
            self.channel_order, QuietHours(quiet.start, quiet.end) if quiet else None, self.digest
        )


class PreferencesOut(BaseModel):
    recipient_id: uuid.UUID
    channel_order: list[Channel] | None
    effective_channels: list[Channel] = Field(description="What the dispatcher will try, in order")
    quiet_hours: QuietHoursIn | None
    digest: bool

    @classmethod
    def of(cls, recipient: Recipient, preferences: Preferences) -> PreferencesOut:
        quiet = preferences.quiet_hours
        return cls(
            recipient_id=recipient.id,
            channel_order=preferences.channel_order,
            effective_channels=recipient.channels(),
            quiet_hours=QuietHoursIn(start=quiet.start, end=quiet.end) if quiet else None,
            digest=preferences.digest,
        )


# --- a resident's copy of their data ---------------------------------------------------------


class SentNoticeOut(NoticeOut):
    subject: str | None = Field(description="What it said, as delivered")
    body: str | None


class RecipientCopyOut(BaseModel):
    id: uuid.UUID
    name: str
    address: str | None
    email: str | None
    phone: str | None = Field(description="Masked (138****5678)")
    locale: str
    preferred_channels: list[Channel]
    consented_channels: list[Channel] | None
    channel_order: list[Channel] | None
    quiet_hours: QuietHoursIn | None
    digest: bool


class DataCopyOut(BaseModel):
    """What notify holds about a resident, for the resident."""

    resident_id: uuid.UUID
    recipient: RecipientCopyOut = Field(description="Their household, as notify tells it")
    notices: list[SentNoticeOut] = Field(description="Every notice to it, oldest first")

    @classmethod
    def of(cls, copy: DataCopy) -> DataCopyOut:
        recipient = copy.recipient
        quiet = recipient.quiet_hours
        return cls(
            resident_id=copy.resident_id,
            recipient=RecipientCopyOut(
                id=recipient.id,
                name=recipient.name,
                address=recipient.address,
                email=recipient.email,
                phone=mask_if_phone(recipient.phone) if recipient.phone else None,
                locale=recipient.locale,
                preferred_channels=list(recipient.preferred_channels),
                consented_channels=list(recipient.consented_channels)
                if recipient.consented_channels is not None
                else None,
                channel_order=list(recipient.channel_order) if recipient.channel_order else None,
                quiet_hours=QuietHoursIn(start=quiet.start, end=quiet.end) if quiet else None,
                digest=recipient.digest,
            ),
            notices=[
                SentNoticeOut(
                    **NoticeOut.of(sent.notice, sent.deliveries).model_dump(),
                    subject=sent.subject,
                    body=sent.body,
                )
                for sent in copy.notices
            ],
        )


# --- grid contacts ---------------------------------------------------------------------------


class GridContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, pattern=MOBILE, description="11-digit mobile")
    channels: list[Channel] = Field(default_factory=lambda: [Channel.EMAIL], min_length=1)
    locale: str = "zh-CN"


class GridContactOut(BaseModel):
    grid_id: str
    recipient_id: uuid.UUID
    name: str
    email: str | None
    phone: str | None
    channels: list[Channel]
    locale: str

    @classmethod
    def of(cls, recipient: Recipient) -> GridContactOut:
        return cls(
            grid_id=recipient.grid_id or "",
            recipient_id=recipient.id,
            name=recipient.name,
            email=recipient.email,
            phone=recipient.phone,
            channels=list(recipient.preferred_channels),
            locale=recipient.locale,
        )


class GridContactList(BaseModel):
    items: list[GridContactOut]
    total: int
    limit: int
    offset: int


# --- partner webhooks ------------------------------------------------------------------------


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="The partner agency")
    url: HttpUrl
    notice_types: list[NoticeType] = Field(min_length=1)
    department: str | None = Field(
        default=None, description="Only escalations to this department (null: all)"
    )


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl | None = None
    notice_types: list[NoticeType] | None = Field(default=None, min_length=1)
    enabled: bool | None = None


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep_previous: bool = Field(
        default=True, description="Keep signing with the previous secret until it is retired"
    )


class WebhookOut(BaseModel):
    id: uuid.UUID
    name: str
    url: str
    notice_types: list[NoticeType]
    department: str | None
    enabled: bool
    consecutive_failures: int
    disabled_reason: str | None
    secret_count: int
    created_at: datetime | None
    secrets: list[str] | None = Field(
        default=None, description="Only when created or rotated: give them to the partner"
    )

    @classmethod
    def of(cls, endpoint: WebhookEndpoint, *, with_secrets: bool = False) -> WebhookOut:
        return cls(
            id=endpoint.id,
            name=endpoint.name,
            url=endpoint.url,
            notice_types=list(endpoint.notice_types),
            department=endpoint.department,
            enabled=endpoint.enabled,
            consecutive_failures=endpoint.consecutive_failures,
            disabled_reason=endpoint.disabled_reason,
            secret_count=len(endpoint.secrets),
            created_at=endpoint.created_at,
            secrets=list(endpoint.secrets) if with_secrets else None,
        )


class WebhookList(BaseModel):
    items: list[WebhookOut]
    total: int
    limit: int
    offset: int


class WebhookAttemptOut(BaseModel):
    status: str
    status_code: int | None
    response: str | None
    attempted_at: datetime


class WebhookMessageOut(BaseModel):
    id: str
    notice_type: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]
    log: list[WebhookAttemptOut]

    @classmethod
    def of(cls, message: WebhookMessage, attempts: list[WebhookAttempt]) -> WebhookMessageOut:
        return cls(
            id=message.id,
            notice_type=message.notice_type,
            status=message.status,
            attempts=message.attempts,
            created_at=message.created_at,
            next_attempt_at=message.next_attempt_at,
            delivered_at=message.delivered_at,
            payload=message.payload,
            log=[
                WebhookAttemptOut(
                    status=a.status,
                    status_code=a.status_code,
                    response=a.response,
                    attempted_at=a.attempted_at,
                )
                for a in attempts
            ],
        )


class WebhookMessagePage(BaseModel):
    items: list[WebhookMessageOut]
    total: int
    limit: int
    offset: int


# --- templates -------------------------------------------------------------------------------


class TemplateOut(BaseModel):
    notice_type: str
    locales: list[str]


class TemplateList(BaseModel):
    items: list[TemplateOut]
    total: int
    limit: int
    offset: int


class PreviewRecipient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "张三"
    address: str | None = "幸福路 1 号 2 栋 301"


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    locale: str = "zh-CN"
    variables: dict[str, Any] = Field(
        description="The notice's variables, as the handler stores them (ISO dates, codes)"
    )
    recipient: PreviewRecipient = Field(default_factory=PreviewRecipient)


class PreviewOut(BaseModel):
    notice_type: str
    locale: str
    subject: str
    body: str
    sms: str
