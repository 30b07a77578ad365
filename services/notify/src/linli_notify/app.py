"""Composition root: builds the notify HTTP app and worker from settings."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import FastAPI

from linli_notify.adapters import tables
from linli_notify.adapters.smtp import SmtpChannel
from linli_notify.adapters.templates import TemplateRenderer
from linli_notify.api.routes import router
from linli_notify.consumers import subscriptions
from linli_notify.service.notices import NotifyService
from linli_notify.settings import NotifySettings
from linli_shared.clock import SystemClock
from linli_shared.db import Database
from linli_shared.messaging.outbox import Outbox
from linli_shared.messaging.worker import Worker
from linli_shared.service import ServiceDefinition, build_worker, disposing
from linli_shared.web import create_service_app

NAME = "notify"
SOURCE = "/linli/notify"


def _service(database: Database, settings: NotifySettings) -> NotifyService:
    return NotifyService(
        database,
        Outbox(tables.outbox, SOURCE),
        SystemClock(),
        TemplateRenderer(settings.time_zone),
        SmtpChannel(settings),
        settings.delivery_max_attempts,
    )


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    settings = settings or NotifySettings()
    database = Database(settings.database_url)
    app = create_service_app(
        title="Linli notify",
        description="Notices to residents and responsible parties, with their delivery log.",
        platform=settings.platform,
        routers=[router],
        readiness_checks=[database.ping],
        lifespan=disposing(database),
    )
    app.state.service = _service(database, settings)
    return app


def create_worker(settings: NotifySettings | None = None) -> Worker:
    settings = settings or NotifySettings()
    database = Database(settings.database_url)
    service = _service(database, settings)
    interval = settings.dispatch_poll_interval_seconds
    lanes = settings.dispatch_lanes

    async def dispatcher(stop: asyncio.Event) -> None:
        await service.run_dispatcher(stop, interval, lanes)

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
    migrations_dir=Path(__file__).parent / "migrations",
)
