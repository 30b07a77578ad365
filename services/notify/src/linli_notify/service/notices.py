"""Notify use cases: keep recipients, turn events into notices, deliver them, prove delivery.

Handlers only create notices (exactly once, with the inbox); the dispatcher delivers them. So a
slow or absent mail server never blocks a partition, and a notice whose recipient is not known
yet simply waits for the registry's event.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime

from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_notify.adapters.repository import Delivery, NoticeRepository
from linli_notify.adapters.smtp import DeliveryError, SmtpChannel
from linli_notify.adapters.templates import TemplateRenderer
from linli_notify.domain.notice import (
    Notice,
    NoticeStatus,
    NoticeType,
    Recipient,
    new_notice,
    retry_delay,
    should_give_up,
)
from linli_shared.aio import sleep_or_stop
from linli_shared.clock import Clock
from linli_shared.context import current_context, event_context
from linli_shared.contracts import HouseholdRegistered, InspectionFailed, ScoreChanged
from linli_shared.contracts.notify import NoticeDelivered, NoticeFailed
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.messaging.outbox import Outbox
from linli_shared.telemetry import current_traceparent, span_from_traceparent

log = logging.getLogger(__name__)


class NotifyService:
    def __init__(
        self,
        database: Database,
        outbox: Outbox,
        clock: Clock,
        renderer: TemplateRenderer,
        email: SmtpChannel,
        max_attempts: int,
    ) -> None:
        self._database = database
        self._outbox = outbox
        self._clock = clock
        self._renderer = renderer
        self._email = email
        self._max_attempts = max_attempts

    # --- from events -------------------------------------------------------------------------

    async def remember_household(
        self, connection: AsyncConnection, event: HouseholdRegistered
    ) -> None:
        head = next((m for m in event.members if m.relation == "head"), event.members[0])
        await NoticeRepository(connection).upsert_recipient(
            Recipient(
                id=event.household_id,
                name=head.name,
                email=str(event.contact_email),
                address=event.address,
            )
        )

    async def notice_rectification(
        self, connection: AsyncConnection, event: InspectionFailed, source_event_id: str
    ) -> None:
        await self._create(
            connection,
            event.subject_id,
            NoticeType.RECTIFICATION,
            source_event_id,
            {
                "inspection_id": str(event.inspection_id),
                "checklist": event.checklist,
                "inspected_at": event.inspected_at.isoformat(),
                "comply_by": event.comply_by.isoformat(),
                "findings": [f.model_dump(mode="json") for f in event.failed_findings],
            },
        )

    async def notice_score_change(
        self, connection: AsyncConnection, event: ScoreChanged, source_event_id: str
    ) -> None:
        await self._create(
            connection,
            event.subject_id,
            NoticeType.SCORE_CHANGE,
            source_event_id,
            {
                "score_before": event.score_before,
                "score_after": event.score_after,
                "points": event.points,
                "grade_before": event.grade_before,
                "grade_after": event.grade_after,
                "reason_code": event.reason_code,
            },
        )

    async def _create(
        self,
        connection: AsyncConnection,
        recipient_id: uuid.UUID,
        notice_type: NoticeType,
        source_event_id: str,
        variables: dict[str, object],
    ) -> None:
        notices = NoticeRepository(connection)
        if await notices.exists(source_event_id, notice_type, recipient_id):
            return
        await notices.add(
            new_notice(
                recipient_id=recipient_id,
                notice_type=notice_type,
                source_event_id=source_event_id,
                correlation_id=current_context().correlation_id,
                traceparent=current_traceparent(),
                variables=variables,
                now=self._clock.now(),
            )
        )

    # --- delivery ----------------------------------------------------------------------------

    async def deliver_next(self) -> bool:
        """Deliver the oldest deliverable notice; False when there is none."""
        async with self._database.transaction() as connection:
            notices = NoticeRepository(connection)
            found = await notices.next_deliverable(
                self._clock.now(), skip_locked=not self._database.is_sqlite
            )
            if found is None:
                return False
            notice, recipient = found
            with (
                event_context(notice.correlation_id, causation_id=notice.source_event_id),
                span_from_traceparent(
                    f"deliver {notice.notice_type.value}", notice.traceparent, SpanKind.PRODUCER
                ),
            ):
                await self._attempt(connection, notices, notice, recipient)
            return True

    async def _attempt(
        self,
        connection: AsyncConnection,
        notices: NoticeRepository,
        notice: Notice,
        recipient: Recipient,
    ) -> None:
        now = self._clock.now()
        rendered = self._renderer.render(notice.notice_type, recipient, notice.variables)
        try:
            response = await self._email.send(
                to=recipient.email,
                subject=rendered.subject,
                body=rendered.body,
                notice_id=str(notice.id),
            )
        except DeliveryError as error:
            attempts = notice.attempts + 1
            gave_up = should_give_up(attempts, self._max_attempts)
            status = NoticeStatus.FAILED if gave_up else NoticeStatus.PENDING
            await notices.record_attempt(
                notice,
                Delivery(self._email.name, recipient.email, "failed", str(error), now),
                status,
                next_attempt_at=now + retry_delay(attempts),
            )
            if gave_up:
                await self._outbox.add(
                    connection, _failed_event(notice, self._email.name, str(error), now)
                )
            log.warning("delivery of notice %s failed: %s", notice.id, error)
            return
        await notices.record_attempt(
            notice,
            Delivery(self._email.name, recipient.email, "delivered", response, now),
            NoticeStatus.DELIVERED,
            next_attempt_at=now,
        )
        await self._outbox.add(connection, _delivered_event(notice, self._email.name, now))

    async def run_dispatcher(self, stop: asyncio.Event, poll_interval: float, lanes: int) -> None:
        """Deliver until `stop`, `lanes` notices at a time (each lane locks its own row)."""
        lanes = 1 if self._database.is_sqlite else lanes
        await asyncio.gather(*(self._dispatch_lane(stop, poll_interval) for _ in range(lanes)))

    async def _dispatch_lane(self, stop: asyncio.Event, poll_interval: float) -> None:
        while not stop.is_set():
            try:
                delivered = await self.deliver_next()
            except Exception:
                log.exception("notice dispatcher failed; retrying")
                delivered = False
                await sleep_or_stop(stop, 1.0)
            if not delivered:
                await sleep_or_stop(stop, poll_interval)

    # --- reads -------------------------------------------------------------------------------

    async def notices_for(self, recipient_id: uuid.UUID, limit: int, offset: int) -> list[Notice]:
        async with self._database.connect() as connection:
            return await NoticeRepository(connection).list_for(recipient_id, limit, offset)

    async def notice(self, notice_id: uuid.UUID) -> tuple[Notice, list[Delivery]]:
        async with self._database.connect() as connection:
            notices = NoticeRepository(connection)
            notice = await notices.get(notice_id)
            if notice is None:
                raise NotFound("notice", notice_id)
            return notice, await notices.deliveries_of(notice_id)


def _delivered_event(notice: Notice, channel: str, at: datetime) -> NoticeDelivered:
    return NoticeDelivered(
        notice_id=notice.id,
        recipient_id=notice.recipient_id,
        notice_type=notice.notice_type.value,
        channel=channel,
        source_event_id=notice.source_event_id,
        delivered_at=at,
    )


def _failed_event(notice: Notice, channel: str, reason: str, at: datetime) -> NoticeFailed:
    return NoticeFailed(
        notice_id=notice.id,
        recipient_id=notice.recipient_id,
        notice_type=notice.notice_type.value,
        channel=channel,
        source_event_id=notice.source_event_id,
        reason=reason[:500],
        failed_at=at,
    )
