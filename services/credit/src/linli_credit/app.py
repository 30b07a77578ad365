"""Composition root: builds the credit's HTTP app and worker from settings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI

from linli_credit.adapters import tables
from linli_credit.api.routes import router
from linli_credit.consumers import subscriptions
from linli_credit.domain.policy import load_policy_book
from linli_credit.service.ledger import CreditService, RebuildReport
from linli_credit.settings import CreditSettings
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

NAME = "credit"
SOURCE = "/linli/credit"
MIGRATIONS = Path(__file__).parent / "migrations"


def _service(database: Database, settings: CreditSettings) -> CreditService:
    return CreditService(
        database,
        Outbox(tables.outbox, SOURCE),
        SystemClock(),
        load_policy_book(settings.policy_dir),
    )


def create_app(settings: CreditSettings | None = None) -> FastAPI:
    settings = settings or CreditSettings()
    database = Database(settings.database_url)
    service = _service(database, settings)
    probe = backlog_probe(NAME, settings, database, tables.outbox, subscriptions(service))
    app = create_service_app(
        title="Linli credit",
        description=(
            "The integrity ledger: entries, scores and grades explained, the green channel, "
            "appeals, repair, rewards and reports."
        ),
        platform=settings.platform,
        routers=[router],
        readiness_checks=api_readiness(database, MIGRATIONS),
        lifespan=disposing(database, probe.run),
        audit_log=AuditLog(database, tables.audit),
    )
    app.state.service = service
    return app


def create_worker(settings: CreditSettings | None = None) -> Worker:
    settings = settings or CreditSettings()
    database = Database(settings.database_url)
    service = _service(database, settings)
    interval = settings.schedule_interval_seconds

    async def scheduled(stop: asyncio.Event) -> None:
        await service.run_scheduled(stop, interval)

    return build_worker(
        NAME,
        settings,
        database,
        tables.outbox,
        tables.inbox,
        subscriptions(service),
        background=[scheduled],
    )


DEFINITION = ServiceDefinition(
    name=NAME,
    settings=CreditSettings,
    create_app=create_app,
    create_worker=create_worker,
    migrations_dir=MIGRATIONS,
)


async def rebuild(
    settings: CreditSettings | None = None, on_account: Callable[[], None] | None = None
) -> RebuildReport:
    """Recompute every account's projection from the ledger (`linli credit rebuild`)."""
    settings = settings or CreditSettings()
    database = Database(settings.database_url)
    try:
        return await _service(database, settings).rebuild(on_account)
    finally:
        await database.dispose()
