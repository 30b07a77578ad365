"""Composition root: builds the credit's HTTP app and worker from settings."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from linli_credit.adapters import tables
from linli_credit.api.routes import router
from linli_credit.consumers import subscriptions
from linli_credit.domain.policy import DEFAULT_POLICY
from linli_credit.service.ledger import CreditService
from linli_credit.settings import CreditSettings
from linli_shared.clock import SystemClock
from linli_shared.db import Database
from linli_shared.messaging.outbox import Outbox
from linli_shared.messaging.worker import Worker
from linli_shared.service import ServiceDefinition, build_worker, disposing
from linli_shared.web import create_service_app

NAME = "credit"
SOURCE = "/linli/credit"


def _service(database: Database) -> CreditService:
    return CreditService(database, Outbox(tables.outbox, SOURCE), SystemClock(), DEFAULT_POLICY)


def create_app(settings: CreditSettings | None = None) -> FastAPI:
    settings = settings or CreditSettings()
    database = Database(settings.database_url)
    app = create_service_app(
        title="Linli credit",
        description="The integrity ledger: entries, scores and grades.",
        platform=settings.platform,
        routers=[router],
        readiness_checks=[database.ping],
        lifespan=disposing(database),
    )
    app.state.service = _service(database)
    return app


def create_worker(settings: CreditSettings | None = None) -> Worker:
    settings = settings or CreditSettings()
    database = Database(settings.database_url)
    service = _service(database)
    return build_worker(
        NAME, settings, database, tables.outbox, tables.inbox, subscriptions(service)
    )


DEFINITION = ServiceDefinition(
    name=NAME,
    settings=CreditSettings,
    create_app=create_app,
    create_worker=create_worker,
    migrations_dir=Path(__file__).parent / "migrations",
)
