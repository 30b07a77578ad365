"""Notify use cases: keep recipients, turn events into notices, deliver them, prove delivery.

Handlers only create notices (exactly once, with the inbox and a de-duplication key) and queue
partner webhook messages; the dispatcher (service/dispatch.py) delivers them. So a slow or absent
mail server, SMS gateway or partner never blocks a partition, and a notice whose recipient is
not known yet simply waits for the registry's event (or the grid contact).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_notify.adapters.channels import Sender
from linli_notify.adapters.repository import (
    Delivery,
    NoticeRepository,
    WebhookAttempt,
    WebhookMessage,
)
from linli_notify.adapters.templates import RenderedNotice, TemplateRenderer
from linli_notify.adapters.webhooks import WebhookSender, new_secret
from linli_notify.domain.notice import (
    PARTNER_NOTICE_TYPES,
    Channel,
    Notice,
    NoticeType,
    QuietHours,
    Recipient,
    RecipientKind,
    WebhookEndpoint,
    grid_worker_id,
    new_notice,
    normalise_locale,
)
from linli_notify.service.dispatch import DeliveryPolicy, Dispatcher, DispatchWakeups
from linli_shared.clock import Clock
from linli_shared.context import current_context
from linli_shared.contracts import (
    AppealDecided,
    AppealReceived,
    CommendationAwarded,
    GradeChanged,
    GreenChannelGranted,
    GreenChannelLost,
    HouseholdConsentChanged,
    HouseholdContactChanged,
    HouseholdDeregistered,
    HouseholdMoved,
    HouseholdRegistered,
    InspectionEscalated,
    InspectionFailed,
    OrganisationChanged,
    OrganisationRegistered,
    RectificationOverdue,
    RectificationRequested,
    RectificationVerified,
    ScoreChanged,
)
from linli_shared.contracts.credit import CreditSubjectKind
from linli_shared.contracts.registry import ContactV1
from linli_shared.crypto import SealBroken, Sealer
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.messaging.outbox import Outbox
from linli_shared.messaging.processing import UnknownSubject
from linli_shared.reach import EVERYWHERE, Reach
from linli_shared.rules import RuleViolation
from linli_shared.telemetry import current_traceparent


@dataclass(frozen=True)
class Preferences:
    channel_order: list[Channel] | None
    quiet_hours: QuietHours | None
    digest: bool


@dataclass(frozen=True)
class InboxItem:
    notice: Notice
    subject: str | None
    body: str | None


class NotifyService:
    def __init__(
        self,
        database: Database,
        outbox: Outbox,
        clock: Clock,
        renderer: TemplateRenderer,
        email: Sender,
        max_attempts: int,
        *,
        sms: Sender | None = None,
        webhooks: WebhookSender | None = None,
        policy: DeliveryPolicy | None = None,
        contacts: Sealer | None = None,
    ) -> None:
        self._database = database
        self._contacts = contacts
        self._outbox = outbox
        self._clock = clock
        self._renderer = renderer
        self._webhooks_enabled = webhooks is not None
        self._webhook_sender = webhooks
        senders: dict[Channel, Sender] = {Channel.EMAIL: email}
        if sms is not None:
            senders[Channel.SMS] = sms
        policy = policy or DeliveryPolicy()
        if policy.max_rounds != max_attempts:
            policy = DeliveryPolicy(
                max_rounds=max_attempts,
                time_zone=policy.time_zone,
                digest_time=policy.digest_time,
                webhook_schedule=policy.webhook_schedule,
                webhook_disable_after=policy.webhook_disable_after,
            )
        self.dispatcher = Dispatcher(
            database, outbox, clock, renderer, senders, policy, webhooks=webhooks
        )

    # --- recipients from the registry ------------------------------------------------------------

    def _opened(
        self, subject: uuid.UUID, contact: ContactV1, fallback_email: str | None = None
    ) -> tuple[str | None, str | None]:
        """The contact's e-mail address and phone: opened from the seal the registry put them
        under, or as they came in clear in events written before it sealed them."""
        if contact.sealed is None:
            return (str(contact.email) if contact.email else fallback_email), contact.phone
        if self._contacts is None:
            raise SealBroken("no contact key is configured to open the sealed contact")
        opened = self._contacts.open(str(subject), contact.sealed)
        return opened.get("email"), opened.get("phone")

    async def remember_household(
        self, connection: AsyncConnection, event: HouseholdRegistered
    ) -> None:
        # The contract allows a household without members: its notices then greet no one by name.
        head = next(
            (m for m in event.members if m.relation == "head"),
            event.members[0] if event.members else None,
        )
        contact = event.contact or ContactV1(email=event.contact_email)
        email, phone = self._opened(event.household_id, contact, str(event.contact_email))
        await NoticeRepository(connection).upsert_recipient(
            _from_contact(
                event.household_id,
                head.name if head is not None else "",
                event.address,
                RecipientKind.HOUSEHOLD,
                contact,
                email=email,
                phone=phone,
                consented=event.consent.notice_channels if event.consent else None,
                grid_id=event.grid_id,
            )
        )

    async def household_moved(self, connection: AsyncConnection, event: HouseholdMoved) -> None:
        """The new address is the one notices name; the new grid's workers see the household."""
        await NoticeRepository(connection).update_recipient(
            event.household_id, address=event.address, grid_id=event.grid_id
        )

    async def household_contact_changed(
        self, connection: AsyncConnection, event: HouseholdContactChanged
    ) -> None:
        contact = event.contact
        email, phone = self._opened(event.household_id, contact)
        await NoticeRepository(connection).update_recipient(
            event.household_id,
            **({"email": email} if email else {}),
            phone=phone,
            preferred_channels=list(contact.preferred_channels),
            locale=normalise_locale(contact.locale),
        )

    async def household_consent_changed(
        self, connection: AsyncConnection, event: HouseholdConsentChanged
    ) -> None:
        await NoticeRepository(connection).update_recipient(
            event.household_id, consented_channels=list(event.consent.notice_channels)
        )

    async def household_deregistered(
        self, connection: AsyncConnection, event: HouseholdDeregistered
    ) -> None:
        await NoticeRepository(connection).update_recipient(event.household_id, active=False)

    async def remember_organisation(
        self, connection: AsyncConnection, event: OrganisationRegistered | OrganisationChanged
    ) -> None:
        email, phone = self._opened(event.organisation_id, event.contact)
        await NoticeRepository(connection).upsert_recipient(
            _from_contact(
                event.organisation_id,
                event.name,
                None,
                RecipientKind.ORGANISATION,
                event.contact,
                email=email,
                phone=phone,
                grid_id=event.grid_id,
            )
        )

    # --- notices from inspections ----------------------------------------------------------------

    async def notice_rectification(
        self, connection: AsyncConnection, event: InspectionFailed, source_event_id: str
    ) -> None:
        findings = [f.model_dump(mode="json") for f in event.failed_findings]
        await self._create(
            connection,
            event.subject_id,
            NoticeType.RECTIFICATION,
            source_event_id,
            {
                "inspection_id": str(event.inspection_id),
                "checklist": event.checklist,
                "checklist_title": event.checklist_title,
                "inspected_at": event.inspected_at.isoformat(),
                "comply_by": event.comply_by.isoformat(),
                "severity": event.severity.value,
                "findings": findings,
            },
            dedup_key=f"inspection:{event.inspection_id}",
            partner={
                "inspection_id": str(event.inspection_id),
                "subject_id": str(event.subject_id),
                "subject_kind": event.subject_kind.value,
                "checklist": event.checklist,
                "severity": event.severity.value,
                "comply_by": event.comply_by.isoformat(),
                "grid_id": event.grid_id,
                "community_id": event.community_id,
                "findings": [{"item": f["item"], "severity": f["severity"]} for f in findings],
            },
        )

    async def notice_rectification_requested(
        self, connection: AsyncConnection, event: RectificationRequested, source_event_id: str
    ) -> None:
        """The same notice as inspection.failed's (one per inspection), with the case id."""
        await self._create(
            connection,
            event.subject_id,
            NoticeType.RECTIFICATION,
            source_event_id,
            {
                "inspection_id": str(event.inspection_id),
                "rectification_id": str(event.rectification_id),
                "checklist": None,
                "inspected_at": None,
                "comply_by": event.comply_by.isoformat(),
                "severity": event.severity.value,
                "findings": [f.model_dump(mode="json") for f in event.failed_findings],
            },
            dedup_key=f"inspection:{event.inspection_id}",
            merge={"rectification_id": str(event.rectification_id)},
        )

    async def notice_reinspection(
        self, connection: AsyncConnection, event: RectificationVerified, source_event_id: str
    ) -> None:
        variables: dict[str, object] = {
            "inspection_id": str(event.inspection_id),
            "rectification_id": str(event.rectification_id),
            "reinspection_id": str(event.reinspection_id),
            "verified_at": event.verified_at.isoformat(),
            "on_time": event.on_time,
        }
        await self._create(
            connection,
            event.subject_id,
            NoticeType.REINSPECTION_RESULT,
            source_event_id,
            variables,
            dedup_key=f"rectification:{event.rectification_id}",
            partner={
                **variables,
                "subject_id": str(event.subject_id),
                "subject_kind": event.subject_kind.value,
                "grid_id": event.grid_id,
                "community_id": event.community_id,
            },
        )

    async def notice_overdue(
        self,
        connection: AsyncConnection,
        event: RectificationOverdue | InspectionEscalated,
        source_event_id: str,
    ) -> None:
        """Overdue: the grid worker hears of it; an escalation to a department goes to partners."""
        common: dict[str, object] = {
            "inspection_id": str(event.inspection_id),
            "rectification_id": str(event.rectification_id),
            "subject_id": str(event.subject_id),
            "subject_kind": event.subject_kind.value,
            "severity": event.severity.value,
            "comply_by": event.comply_by.isoformat(),
            "grid_id": event.grid_id,
            "community_id": event.community_id,
        }
        if isinstance(event, InspectionEscalated) and event.level == "department":
            await self._queue_webhooks(
                connection,
                NoticeType.OVERDUE_ESCALATION,
                f"escalation:{event.rectification_id}:department",
                {
                    **common,
                    "level": event.level,
                    "department": event.department,
                    "escalated_at": event.escalated_at.isoformat(),
                },
                department=event.department,
            )
            return
        if event.grid_id is None:
            return  # no grid, no grid worker to tell
        subject = await NoticeRepository(connection).recipient(event.subject_id)
        label = str(event.subject_id)
        if subject is not None:
            label = f"{subject.name}（{subject.address}）" if subject.address else subject.name
        since = (
            event.overdue_since if isinstance(event, RectificationOverdue) else event.escalated_at
        )
        await self._create(
            connection,
            grid_worker_id(event.grid_id),
            NoticeType.OVERDUE_ESCALATION,
            source_event_id,
            {**common, "subject_label": label, "overdue_since": since.isoformat()},
            dedup_key=f"overdue:{event.rectification_id}",
            announced=False,  # grid workers' contacts are entered in notify, not announced
        )

    # --- notices from credit ---------------------------------------------------------------------

    async def notice_score_change(
        self, connection: AsyncConnection, event: ScoreChanged, source_event_id: str
    ) -> None:
        if _about_a_resident(event):
            return
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
            dedup_key=f"entry:{event.entry_id}",
        )

    async def notice_grade_change(
        self, connection: AsyncConnection, event: GradeChanged, source_event_id: str
    ) -> None:
        if _about_a_resident(event):
            return
        await self._create(
            connection,
            event.subject_id,
            NoticeType.GRADE_CHANGE,
            source_event_id,
            {
                "grade_before": event.grade_before,
                "grade_after": event.grade_after,
                "score": event.score,
                "evaluated_at": event.evaluated_at.isoformat(),
            },
        )

    async def notice_green_channel(
        self,
        connection: AsyncConnection,
        event: GreenChannelGranted | GreenChannelLost,
        source_event_id: str,
    ) -> None:
        if _about_a_resident(event):
            return
        if isinstance(event, GreenChannelGranted):
            notice_type = NoticeType.GREEN_CHANNEL_GRANTED
            variables: dict[str, object] = {
                "grade": event.grade,
                "valid_until": event.valid_until.isoformat(),
            }
        else:
            notice_type, variables = NoticeType.GREEN_CHANNEL_LOST, {"grade": event.grade}
        await self._create(connection, event.subject_id, notice_type, source_event_id, variables)

    async def notice_appeal(
        self,
        connection: AsyncConnection,
        event: AppealReceived | AppealDecided,
        source_event_id: str,
    ) -> None:
        if isinstance(event, AppealReceived):
            notice_type = NoticeType.APPEAL_RECEIVED
            variables: dict[str, object] = {
                "appeal_id": str(event.appeal_id),
                "entry_id": str(event.entry_id),
                "decide_by": event.decide_by.isoformat(),
            }
        else:
            notice_type = NoticeType.APPEAL_DECIDED
            variables = {
                "appeal_id": str(event.appeal_id),
                "entry_id": str(event.entry_id),
                "outcome": event.outcome,
                "reason": event.reason,
            }
        await self._create(
            connection,
            event.subject_id,
            notice_type,
            source_event_id,
            variables,
            dedup_key=f"appeal:{event.appeal_id}",
        )

    async def notice_commendation(
        self, connection: AsyncConnection, event: CommendationAwarded, source_event_id: str
    ) -> None:
        await self._create(
            connection,
            event.subject_id,
            NoticeType.COMMENDATION,
            source_event_id,
            {"award": event.award, "year": event.year, "points": event.points},
            dedup_key=f"commendation:{event.award}:{event.year}",
        )

    async def _create(
        self,
        connection: AsyncConnection,
        recipient_id: uuid.UUID,
        notice_type: NoticeType,
        source_event_id: str,
        variables: dict[str, object],
        *,
        dedup_key: str | None = None,
        merge: dict[str, object] | None = None,
        partner: dict[str, object] | None = None,
        announced: bool = True,
    ) -> None:
        """A notice to a recipient; `announced`: one the registry must have announced (every
        subject). Notify makes no recipient, and no notice, for a subject the registry never had:
        the consumer waits a bounded time for its registration, then dead-letters the event."""
        notices = NoticeRepository(connection)
        if announced and await notices.recipient(recipient_id) is None:
            raise UnknownSubject(recipient_id, "recipient")
        key = dedup_key or f"event:{source_event_id}"
        same = await notices.same_notice(recipient_id, notice_type, key, source_event_id)
        if same is not None:
            if merge and same.status.value == "pending":
                await notices.merge_variables(same, merge)
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
                dedup_key=key,
            )
        )
        if partner is not None:
            await self._queue_webhooks(connection, notice_type, key, partner)

    async def _queue_webhooks(
        self,
        connection: AsyncConnection,
        notice_type: NoticeType,
        dedup_key: str,
        data: dict[str, object],
        department: str | None = None,
    ) -> None:
        """One Standard Webhooks message per subscribed, enabled partner endpoint."""
        if notice_type not in PARTNER_NOTICE_TYPES:
            raise ValueError(f"{notice_type} is not a partner notice type")
        notices = NoticeRepository(connection)
        now = self._clock.now()
        for endpoint in await notices.endpoints():
            if not endpoint.enabled or not endpoint.wants(notice_type, department):
                continue
            await notices.add_message(
                WebhookMessage(
                    id=f"msg_{uuid.uuid4().hex}",
                    endpoint_id=endpoint.id,
                    notice_type=notice_type.value,
                    dedup_key=dedup_key,
                    payload={
                        "type": f"notice.{notice_type.value}",
                        "timestamp": now.isoformat(),
                        "data": {k: v for k, v in data.items() if v is not None},
                    },
                    status="pending",
                    attempts=0,
                    created_at=now,
                    next_attempt_at=now,
                    delivered_at=None,
                )
            )

    # --- delivery (the dispatcher) ---------------------------------------------------------------

    async def deliver_next(self) -> bool:
        return await self.dispatcher.deliver_next()

    async def deliver_next_webhook(self) -> bool:
        return await self.dispatcher.deliver_next_webhook()

    async def run_dispatcher(
        self, stop: asyncio.Event, wakeups: DispatchWakeups, lanes: int
    ) -> None:
        await self.dispatcher.run(stop, wakeups, lanes)

    # --- reads -------------------------------------------------------------------------------

    async def notices_for(
        self, recipient_id: uuid.UUID, limit: int, offset: int, reach: Reach = EVERYWHERE
    ) -> list[Notice]:
        async with self._database.connect() as connection:
            notices = NoticeRepository(connection)
            if not await _reaches(notices, recipient_id, reach):
                raise NotFound("recipient", recipient_id)
            return await notices.list_for(recipient_id, limit, offset)

    async def notice(
        self, notice_id: uuid.UUID, reach: Reach = EVERYWHERE
    ) -> tuple[Notice, list[Delivery]]:
        async with self._database.connect() as connection:
            notices = NoticeRepository(connection)
            notice = await notices.get(notice_id)
            if notice is None or not await _reaches(notices, notice.recipient_id, reach):
                raise NotFound("notice", notice_id)
            return notice, await notices.deliveries_of(notice_id)

    # --- the in-app inbox --------------------------------------------------------------------

    async def inbox(
        self,
        recipient_id: uuid.UUID,
        *,
        unread: bool,
        limit: int,
        offset: int,
        reach: Reach = EVERYWHERE,
    ) -> tuple[list[InboxItem], int]:
        """Delivered notices, newest first, with their text; and how many are unread."""
        async with self._database.connect() as connection:
            notices = NoticeRepository(connection)
            if not await _reaches(notices, recipient_id, reach):
                raise NotFound("recipient", recipient_id)
            listed = await notices.list_for(recipient_id, limit, offset, inbox=True, unread=unread)
            items = [InboxItem(n, *(await notices.content(n.id))) for n in listed]
            return items, await notices.count_unread(recipient_id)

    async def mark_read(
        self, notice_id: uuid.UUID, read: bool, reach: Reach = EVERYWHERE
    ) -> InboxItem:
        async with self._database.transaction() as connection:
            notices = NoticeRepository(connection)
            notice = await notices.get(notice_id)
            if (
                notice is None
                or notice.status.value != "delivered"
                or not await _reaches(notices, notice.recipient_id, reach)
            ):
                raise NotFound("inbox notice", notice_id)
            if read and notice.read_at is None:
                await notices.mark_read(notice_id, self._clock.now())
            elif not read:
                await notices.mark_read(notice_id, None)
            updated = await notices.get(notice_id)
            assert updated is not None
            return InboxItem(updated, *(await notices.content(notice_id)))

    # --- preferences -------------------------------------------------------------------------

    async def preferences(
        self, recipient_id: uuid.UUID, reach: Reach = EVERYWHERE
    ) -> tuple[Recipient, Preferences]:
        async with self._database.connect() as connection:
            recipient = await NoticeRepository(connection).recipient(recipient_id)
        if recipient is None or not reach.covers(recipient.grid_id):
            raise NotFound("recipient", recipient_id)
        return recipient, _preferences(recipient)

    async def set_preferences(
        self, recipient_id: uuid.UUID, preferences: Preferences, reach: Reach = EVERYWHERE
    ) -> tuple[Recipient, Preferences]:
        quiet = preferences.quiet_hours
        async with self._database.transaction() as connection:
            repository = NoticeRepository(connection)
            if not await _reaches(repository, recipient_id, reach):
                raise NotFound("recipient", recipient_id)
            found = await repository.update_recipient(
                recipient_id,
                channel_order=(
                    [c.value for c in preferences.channel_order]
                    if preferences.channel_order
                    else None
                ),
                quiet_start=quiet.start.strftime("%H:%M") if quiet else None,
                quiet_end=quiet.end.strftime("%H:%M") if quiet else None,
                digest=preferences.digest,
            )
            if not found:
                raise NotFound("recipient", recipient_id)
            if not preferences.digest:
                await repository.release_held(recipient_id, self._clock.now())
            recipient = await repository.recipient(recipient_id)
        assert recipient is not None
        return recipient, _preferences(recipient)

    # --- grid workers (no registry event yet: staff keep them here) ----------------------------

    async def set_grid_contact(
        self,
        grid_id: str,
        *,
        name: str,
        email: str | None,
        phone: str | None,
        channels: list[Channel],
        locale: str,
    ) -> Recipient:
        if not email and not phone:
            raise RuleViolation("email", "a grid contact needs an e-mail address or a phone")
        recipient = Recipient(
            id=grid_worker_id(grid_id),
            name=name,
            email=email,
            kind=RecipientKind.GRID_WORKER,
            phone=phone,
            preferred_channels=tuple(channels),
            locale=normalise_locale(locale),
            grid_id=grid_id,
        )
        async with self._database.transaction() as connection:
            await NoticeRepository(connection).upsert_recipient(recipient)
        return recipient

    async def grid_contacts(self) -> list[tuple[str, Recipient]]:
        async with self._database.connect() as connection:
            return await NoticeRepository(connection).grid_contacts()

    async def remove_grid_contact(self, grid_id: str) -> None:
        async with self._database.transaction() as connection:
            if not await NoticeRepository(connection).remove_grid_contact(grid_id):
                raise NotFound("grid contact", grid_id)

    # --- partner webhook endpoints -------------------------------------------------------------

    async def add_webhook(
        self,
        *,
        name: str,
        url: str,
        notice_types: list[NoticeType],
        department: str | None,
        secret: str | None = None,
    ) -> WebhookEndpoint:
        _check_partner_types(notice_types)
        sender = self._sender()
        await sender.check_url(url)
        endpoint = WebhookEndpoint(
            id=uuid.uuid4(),
            name=name,
            url=url,
            secrets=(secret or new_secret(),),
            notice_types=tuple(notice_types),
            department=department,
            created_at=self._clock.now(),
        )
        sealed = replace(endpoint, secrets=tuple(sender.seal(endpoint.secrets)))
        async with self._database.transaction() as connection:
            await NoticeRepository(connection).add_endpoint(sealed)
        return endpoint

    async def webhooks(self) -> list[WebhookEndpoint]:
        async with self._database.connect() as connection:
            endpoints = await NoticeRepository(connection).endpoints()
        return [self._sender().opened(e) for e in endpoints]

    async def webhook(self, endpoint_id: uuid.UUID) -> WebhookEndpoint:
        async with self._database.connect() as connection:
            endpoint = await NoticeRepository(connection).endpoint(endpoint_id)
        if endpoint is None:
            raise NotFound("webhook endpoint", endpoint_id)
        return self._sender().opened(endpoint)

    def _sender(self) -> WebhookSender:
        if self._webhook_sender is None:
            raise RuntimeError("partner webhooks are not configured in this service")
        return self._webhook_sender

    async def update_webhook(
        self,
        endpoint_id: uuid.UUID,
        *,
        url: str | None = None,
        notice_types: list[NoticeType] | None = None,
        enabled: bool | None = None,
    ) -> WebhookEndpoint:
        values: dict[str, object] = {}
        if url is not None:
            await self._sender().check_url(url)
            values["url"] = url
        if notice_types is not None:
            _check_partner_types(notice_types)
            values["notice_types"] = [t.value for t in notice_types]
        if enabled is not None:
            values["enabled"] = enabled
            if enabled:  # a fresh start: the partner says it is fixed
                values.update(consecutive_failures=0, disabled_reason=None)
        return await self._change_endpoint(endpoint_id, values)

    async def rotate_webhook_secret(
        self, endpoint_id: uuid.UUID, *, keep_previous: bool
    ) -> WebhookEndpoint:
        """A new secret signs from now on; the previous one also signs until it is retired."""
        endpoint = await self.webhook(endpoint_id)
        kept = endpoint.secrets[:1] if keep_previous else ()
        secrets = self._sender().seal([new_secret(), *kept])
        return await self._change_endpoint(endpoint_id, {"secrets": secrets})

    async def retire_previous_secrets(self, endpoint_id: uuid.UUID) -> WebhookEndpoint:
        endpoint = await self.webhook(endpoint_id)
        secrets = self._sender().seal(endpoint.secrets[:1])
        return await self._change_endpoint(endpoint_id, {"secrets": secrets})

    async def _change_endpoint(
        self, endpoint_id: uuid.UUID, values: dict[str, object]
    ) -> WebhookEndpoint:
        async with self._database.transaction() as connection:
            repository = NoticeRepository(connection)
            if await repository.endpoint(endpoint_id, lock=True) is None:
                raise NotFound("webhook endpoint", endpoint_id)
            if values:
                await repository.update_endpoint(endpoint_id, **values)
            endpoint = await repository.endpoint(endpoint_id)
        assert endpoint is not None
        return self._sender().opened(endpoint)

    async def webhook_messages(
        self, endpoint_id: uuid.UUID, limit: int, offset: int
    ) -> list[tuple[WebhookMessage, list[WebhookAttempt]]]:
        await self.webhook(endpoint_id)
        async with self._database.connect() as connection:
            repository = NoticeRepository(connection)
            messages = await repository.messages_of(endpoint_id, limit, offset)
            return [(m, await repository.webhook_attempts_of(m.id)) for m in messages]

    # --- templates -----------------------------------------------------------------------------

    def preview(
        self,
        notice_type: NoticeType | str,
        locale: str,
        variables: Mapping[str, object],
        recipient: Recipient,
    ) -> RenderedNotice:
        return self._renderer.check(notice_type, recipient, dict(variables), locale)

    def template_locales(self, notice_type: str) -> list[str]:
        return self._renderer.locales(notice_type)


def _from_contact(
    recipient_id: uuid.UUID,
    name: str,
    address: str | None,
    kind: RecipientKind,
    contact: ContactV1,
    *,
    email: str | None,
    phone: str | None,
    consented: Sequence[str] | None = None,
    grid_id: str | None = None,
) -> Recipient:
    return Recipient(
        id=recipient_id,
        name=name,
        email=email,
        address=address,
        locale=normalise_locale(contact.locale),
        kind=kind,
        phone=phone,
        preferred_channels=tuple(Channel(c) for c in contact.preferred_channels),
        consented_channels=tuple(Channel(c) for c in consented) if consented is not None else None,
        grid_id=grid_id,
    )


async def _reaches(notices: NoticeRepository, recipient_id: uuid.UUID, reach: Reach) -> bool:
    """Whether the caller reaches the recipient's grid (a recipient not known yet is in none)."""
    if reach.grids is None:
        return True
    recipient = await notices.recipient(recipient_id)
    return recipient is not None and reach.covers(recipient.grid_id)


def _preferences(recipient: Recipient) -> Preferences:
    return Preferences(
        channel_order=list(recipient.channel_order) if recipient.channel_order else None,
        quiet_hours=recipient.quiet_hours,
        digest=recipient.digest,
    )


def _check_partner_types(notice_types: list[NoticeType]) -> None:
    for index, notice_type in enumerate(notice_types):
        if notice_type not in PARTNER_NOTICE_TYPES:
            raise RuleViolation(
                f"notice_types.{index}",
                f"{notice_type.value} carries personal data; partners may subscribe to: "
                + ", ".join(sorted(t.value for t in PARTNER_NOTICE_TYPES)),
            )


def _about_a_resident(
    event: ScoreChanged | GradeChanged | GreenChannelGranted | GreenChannelLost,
) -> bool:
    """A resident's own ledger (personal rules) is not a recipient: notices go to households and
    organisations, and a personal entry that counts toward the household already changes the
    household's score, which is noticed there."""
    return event.subject_kind == CreditSubjectKind.RESIDENT
