"""Composition root: builds the credit's HTTP app and worker from settings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI

from linli_credit.adapters import tables
from linli_credit.adapters.erasure import erase_copies
from linli_credit.api.access import collector
from linli_credit.api.routes import router
from linli_credit.consumers import subscriptions
from linli_credit.domain.policy import PolicyBook, load_policy_book
from linli_credit.service import UseCases
from linli_credit.service.accounts import AccountUseCases
from linli_credit.service.appeals import AppealUseCases
from linli_credit.service.awards import AwardUseCases
from linli_credit.service.green_channel import GreenChannelUseCases
from linli_credit.service.posting import PostingUseCases
from linli_credit.service.reads import ReadUseCases
from linli_credit.service.rebuild import RebuildReport, RebuildUseCases
from linli_credit.service.retention import SHIPPED_POLICIES, RetentionUseCases
from linli_credit.service.scheduled import ScheduledUseCases
from linli_credit.service.scoring import Scoring
from linli_credit.settings import CreditSettings
from linli_shared.access import AccessAnswering
from linli_shared.audit import AuditLog
from linli_shared.clock import Clock, SystemClock
from linli_shared.contracts.access import CreditAccessAnswered
from linli_shared.contracts.erasure import CreditErasureApplied
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
from linli_shared.web import create_service_app

NAME = "credit"
SOURCE = "/linli/credit"
MIGRATIONS = Path(__file__).parent / "migrations"


def build_use_cases(database: Database, clock: Clock, policies: PolicyBook) -> UseCases:
    """The use cases over one database, sharing the one path that changes a score."""
    outbox = Outbox(tables.outbox, SOURCE)
    scoring = Scoring(outbox, clock, policies)
    scheduled = ScheduledUseCases(database, scoring)
    reads = ReadUseCases(database, scoring)
    return UseCases(
        accounts=AccountUseCases(database, scoring),
        posting=PostingUseCases(database, scoring),
        awards=AwardUseCases(database, scoring),
        appeals=AppealUseCases(database, scoring),
        green_channel=GreenChannelUseCases(database, scoring, scheduled),
        scheduled=scheduled,
        reads=reads,
        rebuild=RebuildUseCases(database, scoring),
        erasure=ErasureAnswering(database, outbox, clock, erase_copies, CreditErasureApplied),
        access=AccessAnswering(database, outbox, clock, collector(reads), CreditAccessAnswered),
    )


def _use_cases(database: Database, settings: CreditSettings) -> UseCases:
    return build_use_cases(database, SystemClock(), load_policy_book(settings.policy_dir))


def retention_job(
    database: Database, settings: CreditSettings, clock: Clock | None = None
) -> RetentionJob:
    """Credit's retention policy, applied to its own categories and the common ones."""
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


def create_retention(settings: CreditSettings | None = None) -> RetentionJob:
    """The retention job on a database of its own (`linli retention run credit`)."""
    settings = settings or CreditSettings()
    return retention_job(Database(settings.database_url), settings)


def create_app(settings: CreditSettings | None = None) -> FastAPI:
    settings = settings or CreditSettings()
    database = Database(settings.database_url)
    use_cases = _use_cases(database, settings)
    probe = backlog_probe(NAME, settings, database, tables.outbox, subscriptions(use_cases))
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
        audit_log=AuditLog(database, tables.audit, query_hash=settings.audit_hash()),
        retention=retention_job(database, settings),
    )
    app.state.use_cases = use_cases
    return app


def create_worker(settings: CreditSettings | None = None) -> Worker:
    settings = settings or CreditSettings()
    database = Database(settings.database_url)
    use_cases = _use_cases(database, settings)
    interval = settings.schedule_interval_seconds

    async def scheduled(stop: asyncio.Event) -> None:
        await use_cases.scheduled.run_scheduled(stop, interval)

    return build_worker(
        NAME,
        settings,
        database,
        tables.outbox,
        tables.inbox,
        subscriptions(use_cases),
        retention_job(database, settings),
        background=[scheduled],
    )


DEFINITION = ServiceDefinition(
    name=NAME,
    settings=CreditSettings,
    create_app=create_app,
    create_worker=create_worker,
    migrations_dir=MIGRATIONS,
    create_retention=create_retention,
)


async def rebuild(
    settings: CreditSettings | None = None, on_account: Callable[[], None] | None = None
) -> RebuildReport:
    """Recompute every account's projection from the ledger (`linli credit rebuild`)."""
    settings = settings or CreditSettings()
    database = Database(settings.database_url)
    try:
        return await _use_cases(database, settings).rebuild.rebuild(on_account)
    finally:
        await database.dispose()
