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
from linli_notify.api.routes import router
from linli_notify.consumers import subscriptions
from linli_notify.service.dispatch import (
    NOTICES_CHANNEL,
    WEBHOOKS_CHANNEL,
    DeliveryPolicy,
    DispatchWakeups,
)
from linli_notify.service.notices import NotifyService
from linli_notify.settings import NotifySettings
from linli_shared.audit import AuditLog
from linli_shared.clock import Clock, SystemClock
from linli_shared.db import Database
from linli_shared.messaging.outbox import Outbox
from linli_shared.messaging.worker import Worker
from linli_shared.service import (
    ServiceDefinition,
    api_readiness,
    backlog_probe,
    build_worker,
    disposing,
)
from linli_shared.web import create_service_app

NAME = "notify"
SOURCE = "/linli/notify"
MIGRATIONS = Path(__file__).parent / "migrations"


def build_service(
    database: Database, settings: NotifySettings, clock: Clock | None = None
) -> NotifyService:
    """The service with every channel the settings configure (SMS only with a gateway URL)."""
    sms: Sender | None = SmsGatewayChannel(settings) if settings.sms_gateway_url else None
    return NotifyService(
        database,
        Outbox(tables.outbox, SOURCE),
        clock or SystemClock(),
        TemplateRenderer(settings.time_zone, settings.templates_dir),
        SmtpChannel(settings),
        settings.delivery_max_attempts,
        sms=sms,
        webhooks=WebhookSender(
            settings.webhook_timeout_seconds, settings.webhook_egress(), settings.webhook_cipher()
        ),
        policy=DeliveryPolicy(
            max_rounds=settings.delivery_max_attempts,
            time_zone=settings.time_zone,
            digest_time=settings.digest_time,
            webhook_schedule=settings.webhook_schedule(),
            webhook_disable_after=settings.webhook_disable_after_failures,
        ),
        contacts=settings.contact_sealer(),
    )


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    settings = settings or NotifySettings()
    database = Database(settings.database_url)
    service = build_service(database, settings)
    probe = backlog_probe(NAME, settings, database, tables.outbox, subscriptions(service))
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
        audit_log=AuditLog(database, tables.audit),
    )
    app.state.service = service
    return app


def create_worker(settings: NotifySettings | None = None) -> Worker:
    settings = settings or NotifySettings()
    database = Database(settings.database_url)
    service = build_service(database, settings)
    interval = settings.dispatch_poll_interval_seconds
    wakeups = DispatchWakeups(
        notices=settings.platform.wakeup(database.url, NOTICES_CHANNEL, interval),
        webhooks=settings.platform.wakeup(database.url, WEBHOOKS_CHANNEL, interval),
    )

    async def dispatcher(stop: asyncio.Event) -> None:
        await service.run_dispatcher(stop, wakeups, settings.dispatch_lanes)

    return build_worker(
        NAME,
        settings,
        database,
        tables.outbox,
        tables.inbox,
        subscriptions(service),
        background=[dispatcher],
    )


DEFINITION = ServiceDefinition(
    name=NAME,
    settings=NotifySettings,
    create_app=create_app,
    create_worker=create_worker,
    migrations_dir=MIGRATIONS,
)
