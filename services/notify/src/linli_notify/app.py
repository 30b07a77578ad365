"""Composition root: builds the notify HTTP app and worker from settings."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import FastAPI

from linli_notify.adapters import tables
from linli_notify.adapters.channels import Sender
from linli_notify.adapters.sms import SmsGatewayChannel
from linli_notify.adapters.smtp import SmtpChannel
from linli_notify.adapters.templates import TemplateRenderer
from linli_notify.adapters.webhooks import WebhookSender
from linli_notify.api.access import collector
from linli_notify.api.routes import router
from linli_notify.consumers import subscriptions
from linli_notify.domain.delivery import DeliveryPolicy
from linli_notify.domain.notice import Channel
from linli_notify.service import UseCases
from linli_notify.service.dispatch import (
    NOTICES_CHANNEL,
    WEBHOOKS_CHANNEL,
    Dispatcher,
    DispatchWakeups,
)
from linli_notify.service.erasure import NotifyEraser
from linli_notify.service.inbox import InboxUseCases
from linli_notify.service.making import NoticeMakingUseCases
from linli_notify.service.preferences import GridContactUseCases, PreferenceUseCases
from linli_notify.service.previews import PreviewUseCases
from linli_notify.service.reads import NoticeReadUseCases
from linli_notify.service.recipients import RecipientUseCases
from linli_notify.service.retention import SHIPPED_POLICIES, RetentionUseCases
from linli_notify.service.webhook_delivery import WebhookDeliveryUseCases
from linli_notify.service.webhooks import WebhookUseCases
from linli_notify.settings import NotifySettings
from linli_shared.access import AccessAnswering
from linli_shared.audit import AuditLog
from linli_shared.clock import Clock, SystemClock
from linli_shared.contracts.access import NotifyAccessAnswered
from linli_shared.contracts.erasure import NotifyErasureApplied
from linli_shared.db import Database
from linli_shared.erasure import ErasureAnswering
from linli_shared.messaging.outbox import Outbox
from linli_shared.messaging.worker import Worker
from linli_shared.retention import RetentionJob
from linli_shared.service import (
    ServiceDefinition,
    api_readiness,
    backlog_probe,
    build_retention,
    build_worker,
    disposing,
)
from linli_shared.subject_keys import CachedSubjectKeys, SubjectKeySource
from linli_shared.web import create_service_app

NAME = "notify"
SOURCE = "/linli/notify"
MIGRATIONS = Path(__file__).parent / "migrations"


def delivery_policy(settings: NotifySettings) -> DeliveryPolicy:
    """The service-wide delivery policy, validated from the settings."""
    return DeliveryPolicy(
        max_rounds=settings.delivery_max_attempts,
        time_zone=settings.time_zone,
        digest_time=settings.digest_time,
        webhook_schedule=settings.webhook_schedule(),
        webhook_disable_after=settings.webhook_disable_after_failures,
    )


def build_use_cases(
    database: Database,
    settings: NotifySettings,
    clock: Clock | None = None,
    subject_keys: SubjectKeySource | None = None,
) -> UseCases:
    """Every use case, with every channel the settings configure (SMS only with a gateway URL).
    Subject keys come from the registry's API unless `subject_keys` says otherwise (`linli run`
    asks the registry in its own process)."""
    clock = clock or SystemClock()
    keys = CachedSubjectKeys(
        subject_keys or settings.subject_keys(), settings.registry_cache_seconds
    )
    policy = delivery_policy(settings)
    renderer = TemplateRenderer(settings.time_zone, settings.templates_dir)
    webhooks = WebhookSender(
        settings.webhook_timeout_seconds, settings.webhook_egress(), settings.webhook_cipher()
    )
    senders: dict[Channel, Sender] = {Channel.EMAIL: SmtpChannel(settings)}
    if settings.sms_gateway_url:
        senders[Channel.SMS] = SmsGatewayChannel(settings)
    webhook_delivery = WebhookDeliveryUseCases(database, clock, webhooks, policy)
    outbox = Outbox(tables.outbox, SOURCE)
    recipients = RecipientUseCases(database, settings.contact_sealer(), keys)
    return UseCases(
        recipients=recipients,
        making=NoticeMakingUseCases(database, clock, keys),
        reads=NoticeReadUseCases(database),
        inbox=InboxUseCases(database, clock),
        preferences=PreferenceUseCases(database, clock),
        grid_contacts=GridContactUseCases(database),
        webhooks=WebhookUseCases(database, clock, webhooks),
        access=AccessAnswering(
            database, outbox, clock, collector(NoticeReadUseCases(database)), NotifyAccessAnswered
        ),
        previews=PreviewUseCases(renderer),
        dispatcher=Dispatcher(
            database,
            outbox,
            clock,
            renderer,
            senders,
            policy,
            webhook_delivery,
            settings.dispatch_batch,
        ),
        webhook_delivery=webhook_delivery,
        erasure=ErasureAnswering(
            database, outbox, clock, NotifyEraser(recipients), NotifyErasureApplied
        ),
    )


def retention_job(
    database: Database, settings: NotifySettings, clock: Clock | None = None
) -> RetentionJob:
    """Notify's retention policy, applied to its own categories and the common ones."""
    return build_retention(
        NAME,
        settings,
        database,
        shipped_policies=SHIPPED_POLICIES,
        audit=tables.audit,
        outbox=tables.outbox,
        inbox=tables.inbox,
        sweeps=RetentionUseCases(database).sweeps(),
        consumes=True,
        clock=clock,
    )


def create_retention(settings: NotifySettings | None = None) -> RetentionJob:
    """The retention job on a database of its own (`linli retention run notify`)."""
    settings = settings or NotifySettings()
    return retention_job(Database(settings.database_url), settings)


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    settings = settings or NotifySettings()
    database = Database(settings.database_url)
    use_cases = build_use_cases(database, settings)
    probe = backlog_probe(NAME, settings, database, tables.outbox, subscriptions(use_cases))
    app = create_service_app(
        title="Linli notify",
        description=(
            "Notices to residents, responsible parties and grid workers by e-mail, SMS and the "
            "in-app inbox; partner webhooks; preferences; templates; the delivery log."
        ),
        platform=settings.platform,
        routers=[router],
        readiness_checks=api_readiness(database, MIGRATIONS),
        lifespan=disposing(database, probe.run),
        audit_log=AuditLog(database, tables.audit, query_hash=settings.audit_hash()),
        retention=retention_job(database, settings),
    )
    app.state.use_cases = use_cases
    return app


def create_worker(
    settings: NotifySettings | None = None, subject_keys: SubjectKeySource | None = None
) -> Worker:
    settings = settings or NotifySettings()
    database = Database(settings.database_url)
    use_cases = build_use_cases(database, settings, subject_keys=subject_keys)
    interval = settings.dispatch_poll_interval_seconds
    wakeups = DispatchWakeups(
        notices=settings.platform.wakeup(database.url, NOTICES_CHANNEL, interval),
        webhooks=settings.platform.wakeup(database.url, WEBHOOKS_CHANNEL, interval),
    )

    async def dispatcher(stop: asyncio.Event) -> None:
        await use_cases.dispatcher.run(stop, wakeups, settings.dispatch_lanes)

    return build_worker(
        NAME,
        settings,
        database,
        tables.outbox,
        tables.inbox,
        subscriptions(use_cases),
        retention_job(database, settings),
        background=[dispatcher],
    )


DEFINITION = ServiceDefinition(
    name=NAME,
    settings=NotifySettings,
    create_app=create_app,
    create_worker=create_worker,
    migrations_dir=MIGRATIONS,
    create_retention=create_retention,
)
