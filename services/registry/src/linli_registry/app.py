"""Composition root: builds the registry's HTTP app and worker from settings."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from fastapi import FastAPI

from linli_registry.adapters import tables
from linli_registry.adapters.subject_keys import SubjectKeys
from linli_registry.api.access import collector
from linli_registry.api.routes import router
from linli_registry.consumers import subscriptions
from linli_registry.domain.subject_keys import SubjectKey, SubjectKind
from linli_registry.service import UseCases
from linli_registry.service.access import AccessUseCases
from linli_registry.service.announce import MembersAnnouncement
from linli_registry.service.changes import ChangesUseCases
from linli_registry.service.disclosure import DisclosureUseCases
from linli_registry.service.erasure import ErasureUseCases
from linli_registry.service.history import HistoryUseCases
from linli_registry.service.keys import KeyRotation, RotationReport
from linli_registry.service.organisations import OrganisationsUseCases
from linli_registry.service.registration import RegistrationUseCases
from linli_registry.service.retention import SHIPPED_POLICIES, RetentionUseCases
from linli_registry.service.subject_keys import SubjectKeyUseCases
from linli_registry.service.territory import TerritoryUseCases
from linli_registry.settings import RegistrySettings
from linli_shared.audit import AuditLog
from linli_shared.clock import Clock, SystemClock
from linli_shared.db import Database
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

NAME = "registry"
SOURCE = "/linli/registry"
MIGRATIONS = Path(__file__).parent / "migrations"


def build_use_cases(
    database: Database, settings: RegistrySettings, clock: Clock | None = None
) -> UseCases:
    """Every use case of the registry on `database`, as the app and the worker run them."""
    clock = clock or SystemClock()
    outbox = Outbox(tables.outbox, SOURCE)
    cipher = settings.cipher()
    keys = SubjectKeys(database, cipher, clock)
    disclosure = DisclosureUseCases(database, cipher)
    return UseCases(
        territory=TerritoryUseCases(database, outbox, clock, settings.default_time_zone),
        registration=RegistrationUseCases(database, outbox, clock, cipher, keys),
        changes=ChangesUseCases(database, outbox, clock, cipher, keys),
        disclosure=disclosure,
        history=HistoryUseCases(database, cipher),
        erasure=ErasureUseCases(database, outbox, clock, cipher, keys),
        organisations=OrganisationsUseCases(database, outbox, clock, cipher, keys),
        subject_keys=SubjectKeyUseCases(keys),
        access=AccessUseCases(database, outbox, clock, cipher, collector(disclosure)),
    )


def retention_job(
    database: Database, settings: RegistrySettings, clock: Clock | None = None
) -> RetentionJob:
    """The registry's retention policy, applied to its own categories and the common ones."""
    return build_retention(
        NAME,
        settings,
        database,
        shipped_policies=SHIPPED_POLICIES,
        audit=tables.audit,
        outbox=tables.outbox,
        inbox=tables.inbox,
        sweeps=RetentionUseCases(
            database, build_use_cases(database, settings, clock).erasure
        ).sweeps(),
        consumes=True,
        clock=clock,
    )


def create_retention(settings: RegistrySettings | None = None) -> RetentionJob:
    """The retention job on a database of its own (`linli retention run registry`)."""
    settings = settings or RegistrySettings()
    return retention_job(Database(settings.database_url), settings)


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    settings = settings or RegistrySettings()
    database = Database(settings.database_url)
    registry = build_use_cases(database, settings)
    probe = backlog_probe(NAME, settings, database, tables.outbox, subscriptions(registry))
    app = create_service_app(
        title="Linli registry",
        description=(
            "Communities, grids, compounds, buildings, households with their members, and "
            "organisations (property managers, shops and units with a frontage duty)."
        ),
        platform=settings.platform,
        routers=[router],
        readiness_checks=api_readiness(database, MIGRATIONS),
        lifespan=disposing(database, probe.run),
        audit_log=AuditLog(database, tables.audit, query_hash=settings.audit_hash()),
        retention=retention_job(database, settings),
    )
    app.state.use_cases = registry
    return app


async def rotate_keys(
    settings: RegistrySettings | None = None,
    batch_size: int = 500,
    on_batch: Callable[[str, int], None] | None = None,
) -> RotationReport:
    """Re-encrypt personal data under the current key (`linli registry rotate-keys`)."""
    settings = settings or RegistrySettings()
    database = Database(settings.database_url)
    try:
        return await KeyRotation(database, settings.cipher(), batch_size).run(on_batch)
    finally:
        await database.dispose()


async def announce_members(
    settings: RegistrySettings | None = None,
    batch_size: int = 500,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Announce every active household's members again (`linli registry announce-members`)."""
    settings = settings or RegistrySettings()
    database = Database(settings.database_url)
    outbox = Outbox(tables.outbox, SOURCE)
    try:
        clock, cipher = SystemClock(), settings.cipher()
        announcement = MembersAnnouncement(
            database, outbox, clock, cipher, SubjectKeys(database, cipher, clock), batch_size
        )
        return await announcement.run(on_batch=on_batch)
    finally:
        await database.dispose()


async def destroyed_keys(settings: RegistrySettings | None = None) -> list[SubjectKey]:
    """Every subject whose key was destroyed (`linli registry destroyed-keys`)."""
    settings = settings or RegistrySettings()
    database = Database(settings.database_url)
    try:
        return await SubjectKeys(database, settings.cipher(), SystemClock()).destroyed()
    finally:
        await database.dispose()


async def destroy_keys(
    subjects: Sequence[tuple[uuid.UUID, SubjectKind]], settings: RegistrySettings | None = None
) -> list[SubjectKey]:
    """Destroy these subjects' keys, again after a restore (`linli registry destroy-keys`)."""
    settings = settings or RegistrySettings()
    database = Database(settings.database_url)
    keys = SubjectKeys(database, settings.cipher(), SystemClock())
    try:
        async with database.transaction():
            return [await keys.destroy(subject, kind) for subject, kind in subjects]
    finally:
        await database.dispose()


def create_worker(settings: RegistrySettings | None = None) -> Worker:
    settings = settings or RegistrySettings()
    database = Database(settings.database_url)
    return build_worker(
        NAME,
        settings,
        database,
        tables.outbox,
        tables.inbox,
        subscriptions(build_use_cases(database, settings)),
        retention_job(database, settings),
    )


DEFINITION = ServiceDefinition(
    name=NAME,
    settings=RegistrySettings,
    create_app=create_app,
    create_worker=create_worker,
    migrations_dir=MIGRATIONS,
    create_retention=create_retention,
)
