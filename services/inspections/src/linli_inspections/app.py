"""Composition root: builds the inspections HTTP app and worker from settings."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import FastAPI

from linli_inspections.adapters import tables
from linli_inspections.api.routes import router
from linli_inspections.consumers import subscriptions
from linli_inspections.service.inspections import InspectionsService
from linli_inspections.settings import InspectionsSettings
from linli_shared.audit import AuditLog
from linli_shared.clock import SystemClock
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

NAME = "inspections"
SOURCE = "/linli/inspections"
MIGRATIONS = Path(__file__).parent / "migrations"


def _service(database: Database, settings: InspectionsSettings) -> InspectionsService:
    return InspectionsService(
        database, Outbox(tables.outbox, SOURCE), SystemClock(), settings.policy()
    )


def create_app(settings: InspectionsSettings | None = None) -> FastAPI:
    settings = settings or InspectionsSettings()
    database = Database(settings.database_url)
    service = _service(database, settings)
    probe = backlog_probe(NAME, settings, database, tables.outbox, subscriptions(service))
    app = create_service_app(
        title="Linli inspections",
        description=(
            "Checklist templates, schedules and coverage, inspections with findings and "
            "evidence, rectification cases with their timeline, pest monitoring."
        ),
        platform=settings.platform,
        routers=[router],
        readiness_checks=api_readiness(database, MIGRATIONS),
        lifespan=disposing(database, probe.run),
        audit_log=AuditLog(database, tables.audit),
    )
    app.state.service = service
    return app


def create_worker(settings: InspectionsSettings | None = None) -> Worker:
    settings = settings or InspectionsSettings()
    database = Database(settings.database_url)
    service = _service(database, settings)
    interval = settings.sweep_interval_seconds

    async def scheduler(stop: asyncio.Event) -> None:
        await service.run_scheduler(stop, interval)

    return build_worker(
        NAME,
        settings,
        database,
        tables.outbox,
        tables.inbox,
        subscriptions(service),
        background=[scheduler],
    )


DEFINITION = ServiceDefinition(
    name=NAME,
    settings=InspectionsSettings,
    create_app=create_app,
    create_worker=create_worker,
    migrations_dir=MIGRATIONS,
)
