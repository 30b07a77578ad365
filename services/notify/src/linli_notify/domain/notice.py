"""Notices: what is said to whom about which event, and whether it reached them.

Pure policy, no I/O: which channels a recipient can be reached on and in which order, when a
notice may go out (quiet hours, digests), how long to wait before trying again, and when to stop.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from linli_shared.rules import RuleViolation


class NoticeType(StrEnum):
    RECTIFICATION = "rectification"
    REINSPECTION_RESULT = "reinspection_result"
    OVERDUE_ESCALATION = "overdue_escalation"
    SCORE_CHANGE = "score_change"
    GRADE_CHANGE = "grade_change"
    GREEN_CHANNEL_GRANTED = "green_channel_granted"
    GREEN_CHANNEL_LOST = "green_channel_lost"
    APPEAL_RECEIVED = "appeal_received"
    APPEAL_DECIDED = "appeal_decided"
    COMMENDATION = "commendation"


# Notice types a partner agency may subscribe to by webhook: their payload carries ids and codes
# only, never names, phones or addresses.
PARTNER_NOTICE_TYPES = frozenset(
    {NoticeType.RECTIFICATION, NoticeType.REINSPECTION_RESULT, NoticeType.OVERDUE_ESCALATION}
)


class NoticeStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    INBOX = "inbox"


class RecipientKind(StrEnum):
    HOUSEHOLD = "household"
    ORGANISATION = "organisation"
    GRID_WORKER = "grid_worker"


DEFAULT_LOCALE = "zh-CN"
LOCALES = ("zh-CN", "en")

GRID_WORKER_NAMESPACE = uuid.UUID("6c1b5a52-52a4-4e2c-9a51-2d1c5f0f7e11")


def grid_worker_id(grid_id: str) -> uuid.UUID:
    """The stable recipient id of a grid's worker (grid contacts are keyed by grid)."""
    return uuid.uuid5(GRID_WORKER_NAMESPACE, f"grid:{grid_id}")


def normalise_locale(locale: str | None) -> str:
    """`en-US`, `en_GB`, `EN` → `en`; anything Chinese or unknown → the default, `zh-CN`."""
    if locale and locale.replace("_", "-").lower().split("-")[0] == "en":
        return "en"
    return DEFAULT_LOCALE


@dataclass(frozen=True)
class QuietHours:
    """A local time window (may span midnight) in which only critical notices go out."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise RuleViolation("quiet_hours", "start and end of quiet hours must differ")

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, now: datetime, zone: ZoneInfo) -> datetime:
        """The first instant after `now` outside the window (`now` itself if outside)."""
        local = now.astimezone(zone)
        if not self.contains(local.time()):
            return now
        end = datetime.combine(local.date(), self.end, tzinfo=zone)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(now.tzinfo)


@dataclass(frozen=True)
class Recipient:
    id: uuid.UUID
    name: str
    email: str | None
    address: str | None = None
    locale: str = DEFAULT_LOCALE
    kind: RecipientKind = RecipientKind.HOUSEHOLD
    phone: str | None = None
    preferred_channels: tuple[Channel, ...] = (Channel.EMAIL,)
    consented_channels: tuple[Channel, ...] | None = None  # None: no consent record, no filter
    active: bool = True
    # Where the recipient is: a household's or organisation's grid (from the registry), the
    # grid a grid worker answers for. Grid workers see only their grids' recipients.
    grid_id: str | None = None
    channel_order: tuple[Channel, ...] | None = None  # the recipient's own override
    quiet_hours: QuietHours | None = None
    digest: bool = False

    def address_on(self, channel: Channel) -> str | None:
        if channel is Channel.EMAIL:
            return self.email
        if channel is Channel.SMS:
            return self.phone
        return str(self.id)

    def channels(self) -> list[Channel]:
        """The channels to try, in order: the first that takes the notice wins.

        The recipient's own order (or the registry's preference), less what they did not consent
        to and what they have no address for. The in-app inbox needs no address: a household or
        organisation with nothing else still finds the notice there.
        """
        order = self.channel_order or self.preferred_channels
        usable = [
            channel
            for channel in dict.fromkeys(order)
            if (self.consented_channels is None or channel in self.consented_channels)
            and self.address_on(channel)
        ]
        if not usable and self.kind is not RecipientKind.GRID_WORKER:
            usable = [Channel.INBOX]
        return usable


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
    dedup_key: str = ""
    critical: bool = False
    channel_index: int = 0
    rounds: int = 0
    digest: bool = False
    channel: str | None = None
    read_at: datetime | None = None

    @property
    def inspection_id(self) -> uuid.UUID | None:
        """The inspection the notice is about (a rectification notice, a re-inspection result,
        an escalation), as its variables name it; its delivery events carry it, so inspections
        can start the case's comply-by period when the responsible party was told."""
        named = self.variables.get("inspection_id")
        if not isinstance(named, str):
            return None
        try:
            return uuid.UUID(named)
        except ValueError:
            return None


def is_critical(notice_type: NoticeType, variables: dict[str, object]) -> bool:
    """Critical notices bypass quiet hours and digests: escalations and serious findings."""
    if notice_type is NoticeType.OVERDUE_ESCALATION:
        return True
    return notice_type is NoticeType.RECTIFICATION and variables.get("severity") == "serious"


def new_notice(
    *,
    recipient_id: uuid.UUID,
    notice_type: NoticeType,
    source_event_id: str,
    correlation_id: str,
    traceparent: str | None,
    variables: dict[str, object],
    now: datetime,
    dedup_key: str | None = None,
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
        dedup_key=dedup_key or f"event:{source_event_id}",
        critical=is_critical(notice_type, variables),
    )


def should_give_up(attempts: int, max_attempts: int) -> bool:
    return attempts >= max_attempts


def retry_delay(attempts: int) -> timedelta:
    """Back off between delivery attempts: 5 s, 10 s, 20 s … capped at 10 minutes."""
    exponent = min(attempts - 1, 20)  # 5 s · 2^7 already passes the cap
    return min(timedelta(seconds=5 * 2**exponent), timedelta(minutes=10))


@dataclass(frozen=True)
class NextStep:
    """What to do after a failed attempt: another channel now, a new round later, or give up."""

    give_up: bool
    channel_index: int
    rounds: int
    next_attempt_at: datetime


def after_failure(
    *, channel_index: int, channels: int, rounds: int, max_rounds: int, now: datetime
) -> NextStep:
    """Fall back to the next channel at once; when all failed, back off and start over.

    `max_rounds` bounds how often the whole channel list is tried (delivery_max_attempts).
    """
    if channel_index + 1 < channels:
        return NextStep(False, channel_index + 1, rounds, now)
    finished = rounds + 1
    return NextStep(should_give_up(finished, max_rounds), 0, finished, now + retry_delay(finished))


def not_before(
    notice: Notice, recipient: Recipient, now: datetime, zone: ZoneInfo, digest_at: time
) -> datetime:
    """The earliest time this notice may go out to this recipient (`now` if it may go now).

    Critical notices go at once. Otherwise a digest recipient's notices wait for the next
    digest time, and quiet hours hold the rest until they end.
    """
    if notice.critical:
        return now
    if recipient.digest and not notice.digest:
        return next_digest_time(now, zone, digest_at)
    if recipient.quiet_hours is not None:
        return recipient.quiet_hours.ends_after(now, zone)
    return now


def next_digest_time(now: datetime, zone: ZoneInfo, at: time) -> datetime:
    """The next local `at` strictly after `now`."""
    local = now.astimezone(zone)
    candidate = datetime.combine(local.date(), at, tzinfo=zone)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(now.tzinfo)


@dataclass(frozen=True)
class WebhookEndpoint:
    id: uuid.UUID
    name: str
    url: str
    secrets: tuple[str, ...]
    notice_types: tuple[NoticeType, ...]
    enabled: bool = True
    consecutive_failures: int = 0
    disabled_reason: str | None = None
    department: str | None = None
    created_at: datetime | None = None

    def wants(self, notice_type: NoticeType, department: str | None) -> bool:
        if notice_type not in self.notice_types:
            return False
        return self.department is None or department is None or self.department == department


DEFAULT_WEBHOOK_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)


def webhook_retry_at(
    attempts: int, now: datetime, schedule: Sequence[timedelta]
) -> datetime | None:
    """After `attempts` failed tries: when to try again, or None when the schedule is spent.

    The Standard Webhooks schedule: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    """
    if attempts > len(schedule):
        return None
    return now + schedule[attempts - 1]


def should_disable(consecutive_failures: int, threshold: int) -> bool:
    """An endpoint that failed this many attempts in a row (no success between) is disabled."""
    return consecutive_failures >= threshold
