"""Delivery, out of the consumer path: the dispatcher takes due notices and webhook messages.

Each lane locks one due notice (`FOR UPDATE SKIP LOCKED`), decides with the domain policy whether
it may go now (quiet hours, digest), tries the recipient's channels in order (falling back at
once to the next), logs every attempt, and publishes the verdict (`notice.delivered|failed`)
through the outbox in the same transaction. Partner webhook messages have their own lane
(service/webhook_delivery.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from jinja2.exceptions import TemplateError
from opentelemetry.trace import SpanKind

from linli_notify.adapters.channels import DeliveryError, Sender
from linli_notify.adapters.repository import Attempt, NoticeRepository
from linli_notify.adapters.templates import TemplateRenderer
from linli_notify.domain.delivery import DIGEST, Delivery, DeliveryPolicy, RenderedNotice
from linli_notify.domain.notice import (
    Channel,
    Notice,
    NoticeStatus,
    Recipient,
    after_failure,
    not_before,
)
from linli_notify.service.webhook_delivery import WebhookDeliveryUseCases
from linli_shared.aio import sleep_or_stop
from linli_shared.clock import Clock
from linli_shared.context import event_context
from linli_shared.contracts.notify import NoticeDelivered, NoticeFailed
from linli_shared.db import Database
from linli_shared.messaging.outbox import Outbox, OutboxRow
from linli_shared.messaging.wakeup import Wakeup
from linli_shared.telemetry import span_from_traceparent

log = logging.getLogger(__name__)

INBOX_RESPONSE = "stored in the in-app inbox"
# The notify migrations NOTIFY these channels when notices / webhook messages are inserted.
NOTICES_CHANNEL = "linli_notices"
WEBHOOKS_CHANNEL = "linli_webhooks"


@dataclass(frozen=True)
class DispatchWakeups:
    notices: Wakeup
    webhooks: Wakeup


_Step = Callable[[], Awaitable[bool]]


@dataclass
class _Results:
    """What a batch's attempts changed, written when the batch ends."""

    attempts: list[tuple[Notice, Attempt]] = field(default_factory=list)
    events: list[OutboxRow] = field(default_factory=list)
    handled: set[uuid.UUID] = field(default_factory=set)


class Dispatcher:
    def __init__(
        self,
        database: Database,
        outbox: Outbox,
        clock: Clock,
        renderer: TemplateRenderer,
        senders: Mapping[Channel, Sender],
        policy: DeliveryPolicy,
        webhooks: WebhookDeliveryUseCases,
        batch: int,
    ) -> None:
        """`batch`: due notices a lane locks and sends in one transaction (a busy moment's
        notices share its statements; a quiet one's go out alone, as soon as they are due)."""
        self._batch = batch
        self._database = database
        self._outbox = outbox
        self._clock = clock
        self._renderer = renderer
        self._senders = senders
        self._policy = policy
        self._webhooks = webhooks

    # --- notices ---------------------------------------------------------------------------------

    async def deliver_next(self) -> bool:
        """Handle the due notices, up to a batch (`deliver_due`); False when none is due."""
        return await self.deliver_due() > 0

    async def deliver_due(self) -> int:
        """Handle the due notices (send, hold or give up), up to a batch in one transaction;
        how many were due.

        The batch's row locks are held while its messages go out, one after another; what the
        attempts changed (the log, the notices, the verdict events) is written at the end in
        three statements, whatever the batch's size. A crash before the commit sends the batch
        again later: delivery is at least once, and a resend carries the same Message-ID.
        """
        now = self._clock.now()
        async with self._database.transaction() as connection:
            notices = NoticeRepository(connection)
            due = await notices.due(now, self._batch, skip_locked=not self._database.is_sqlite)
            if not due:
                return 0
            results = _Results()
            for notice, recipient in due:
                if notice.id in results.handled:
                    continue  # went out in a digest sent earlier in this batch
                with (
                    event_context(notice.correlation_id, causation_id=notice.source_event_id),
                    span_from_traceparent(
                        f"deliver {notice.notice_type.value}", notice.traceparent, SpanKind.PRODUCER
                    ),
                ):
                    await self._handle(notices, notice, recipient, now, results)
            await notices.record_attempts(results.attempts)
            await self._outbox.write(connection, results.events)
            return len(due)

    async def _more_may_be_due(self) -> bool:
        """A notice lane's step. After a batch smaller than a full one the lane waits for the
        next wake-up: it took what was due and not locked by another lane, and another pass at
        once would mostly find nothing (three round trips for it). A notice made meanwhile has
        woken another lane, or left its wake-up behind for this one."""
        return await self.deliver_due() >= self._batch

    async def _handle(
        self,
        notices: NoticeRepository,
        notice: Notice,
        recipient: Recipient,
        now: datetime,
        results: _Results,
    ) -> None:
        policy = self._policy
        if not recipient.active:
            await self._give_up(notices, [notice], "none", "recipient is not active", now, results)
            return
        until = not_before(notice, recipient, now, policy.zone, policy.digest_time)
        if until > now:
            await notices.hold(notice, until, digest=recipient.digest and not notice.critical)
            return
        if notice.digest and recipient.digest:
            batch = await notices.due_digest(
                recipient.id, now, skip_locked=not self._database.is_sqlite
            )
            await self._send(notices, batch or [notice], recipient, now, results, digest=True)
        else:
            await self._send(notices, [notice], recipient, now, results)

    async def _send(
        self,
        notices: NoticeRepository,
        batch: Sequence[Notice],
        recipient: Recipient,
        now: datetime,
        results: _Results,
        *,
        digest: bool = False,
    ) -> None:
        """One attempt on one channel for a notice (or a digest of several)."""
        results.handled.update(notice.id for notice in batch)
        first = batch[0]
        channels = recipient.channels()
        if not channels:
            reason = "no channel to reach the recipient on"
            await self._give_up(notices, batch, "none", reason, now, results)
            return
        try:
            rendered = self._render(batch, recipient, digest)
        except TemplateError as error:
            await self._give_up(notices, batch, "none", f"template: {error}", now, results)
            return
        index = min(first.channel_index, len(channels) - 1)
        channel = channels[index]
        address = recipient.address_on(channel) or ""
        try:
            response = await self._send_on(channel, address, rendered, str(first.id))
        except DeliveryError as error:
            step = after_failure(
                channel_index=index,
                channels=len(channels),
                rounds=first.rounds,
                max_rounds=self._policy.max_rounds,
                now=now,
            )
            status = NoticeStatus.FAILED if step.give_up else NoticeStatus.PENDING
            for notice in batch:
                results.attempts.append(
                    (
                        notice,
                        Attempt(
                            Delivery(channel.value, address, "failed", error.response, now),
                            status,
                            step.next_attempt_at,
                            step.channel_index,
                            step.rounds,
                        ),
                    )
                )
                if step.give_up:
                    results.events += self._failed(notice, channel.value, str(error), now)
            log.warning("delivery of notice %s on %s failed: %s", first.id, channel, error)
            return
        for notice in batch:
            results.attempts.append(
                (
                    notice,
                    Attempt(
                        Delivery(channel.value, address, "delivered", response, now),
                        NoticeStatus.DELIVERED,
                        now,
                        index,
                        first.rounds,
                        rendered.subject,
                        rendered.body,
                    ),
                )
            )
            with event_context(notice.correlation_id, causation_id=notice.source_event_id):
                results.events += self._outbox.prepare(
                    NoticeDelivered(
                        notice_id=notice.id,
                        recipient_id=notice.recipient_id,
                        notice_type=notice.notice_type.value,
                        channel=channel.value,
                        source_event_id=notice.source_event_id,
                        delivered_at=now,
                        inspection_id=notice.inspection_id,
                    )
                )

    def _render(
        self, batch: Sequence[Notice], recipient: Recipient, digest: bool
    ) -> RenderedNotice:
        if not digest:
            notice = batch[0]
            return self._renderer.render(notice.notice_type, recipient, notice.variables)
        items = [
            self._renderer.render(notice.notice_type, recipient, notice.variables)
            for notice in batch
        ]
        return self._renderer.render(
            DIGEST,
            recipient,
            {"items": [{"subject": item.subject, "body": item.body} for item in items]},
        )

    async def _send_on(
        self, channel: Channel, address: str, rendered: RenderedNotice, notice_id: str
    ) -> str:
        if channel is Channel.INBOX:
            return INBOX_RESPONSE
        sender = self._senders.get(channel)
        if sender is None:
            raise DeliveryError(f"{channel.value} is not configured on this deployment")
        return await sender.send(to=address, notice=rendered, notice_id=notice_id)

    async def _give_up(
        self,
        notices: NoticeRepository,
        batch: Sequence[Notice],
        channel: str,
        reason: str,
        now: datetime,
        results: _Results,
    ) -> None:
        for notice in batch:
            await notices.fail(notice, reason, now)
            results.events += self._failed(notice, channel, reason, now)
        log.warning("notice %s failed for good: %s", batch[0].id, reason)

    def _failed(self, notice: Notice, channel: str, reason: str, now: datetime) -> list[OutboxRow]:
        with event_context(notice.correlation_id, causation_id=notice.source_event_id):
            return self._outbox.prepare(
                NoticeFailed(
                    notice_id=notice.id,
                    recipient_id=notice.recipient_id,
                    notice_type=notice.notice_type.value,
                    channel=channel,
                    source_event_id=notice.source_event_id,
                    reason=reason[:500],
                    failed_at=now,
                    inspection_id=notice.inspection_id,
                )
            )

    # --- the loop --------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, wakeups: DispatchWakeups, lanes: int) -> None:
        """Deliver until `stop`: `lanes` notice lanes (each locks its row), one webhook lane.
        New notices and new webhook messages wake a lane (see NOTICES_CHANNEL)."""
        lanes = 1 if self._database.is_sqlite else lanes
        async with wakeups.notices.listening_while(), wakeups.webhooks.listening_while():
            await asyncio.gather(
                *(self._lane(stop, wakeups.notices, self._more_may_be_due) for _ in range(lanes)),
                self._lane(stop, wakeups.webhooks, self._webhooks.deliver_next_webhook),
            )

    async def _lane(self, stop: asyncio.Event, wakeup: Wakeup, step: _Step) -> None:
        while not stop.is_set():
            try:
                worked = await step()
            except Exception:
                log.exception("notice dispatcher failed; retrying")
                worked = False
                await sleep_or_stop(stop, 1.0)
            if not worked:
                await wakeup.wait(stop)
