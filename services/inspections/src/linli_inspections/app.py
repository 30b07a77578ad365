"""Composition root: builds the inspections HTTP app and worker from settings."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from pathlib import Path

from fastapi import FastAPI

from linli_inspections.adapters import tables
from linli_inspections.adapters.erasure import erase_copies
from linli_inspections.api.access import collector
from linli_inspections.api.routes import router
from linli_inspections.consumers import subscriptions
from linli_inspections.domain.evidence import DEFAULT_MAX_BYTES
from linli_inspections.domain.policy import InspectionPolicy
from linli_inspections.service import UseCases
from linli_inspections.service.cases import CasesUseCases
from linli_inspections.service.coverage import CoverageUseCases
from linli_inspections.service.evidence import EvidenceUseCases
from linli_inspections.service.notes import NoteSealing
from linli_inspections.service.pests import PestsUseCases
from linli_inspections.service.places import PlacesUseCases
from linli_inspections.service.reads import ReadsUseCases
from linli_inspections.service.recording import RecordingUseCases
from linli_inspections.service.retention import SHIPPED_POLICIES, RetentionUseCases
from linli_inspections.service.sweep import SweepUseCases
from linli_inspections.service.templates import TemplatesUseCases
from linli_inspections.settings import InspectionsSettings
from linli_shared.access import AccessAnswering
from linli_shared.audit import AuditLog
from linli_shared.clock import Clock, SystemClock
from linli_shared.contracts.access import InspectionsAccessAnswered
from linli_shared.contracts.erasure import InspectionsErasureApplied
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
from linli_shared.subject_keys import (
    CachedSubjectKeys,
    SubjectKeySource,
    SubjectKeyUnavailable,
)
from linli_shared.web import create_service_app

NAME = "inspections"
SOURCE = "/linli/inspections"
MIGRATIONS = Path(__file__).parent / "migrations"


def build_use_cases(
    database: Database,
    clock: Clock,
    policy: InspectionPolicy,
    evidence_max_bytes: int = DEFAULT_MAX_BYTES,
    subject_keys: SubjectKeySource | None = None,
) -> UseCases:
    """The use cases on one database, each built by hand with what it needs. The subject keys
    seal inspectors' notes in events (the registry's, through `InspectionsSettings.subject_keys`
    or in-process under `linli run`); without a source, a note cannot be recorded (503)."""
    outbox = Outbox(tables.outbox, SOURCE)
    cases = CasesUseCases(database, outbox, clock, policy)
    coverage = CoverageUseCases(database, outbox, clock, policy)
    notes = NoteSealing(subject_keys or UNCONFIGURED_KEYS)
    recording = RecordingUseCases(database, outbox, clock, policy, cases, notes)
    reads = ReadsUseCases(database)
    return UseCases(
        recording=recording,
        cases=cases,
        coverage=coverage,
        templates=TemplatesUseCases(database, clock),
        evidence=EvidenceUseCases(database, clock, evidence_max_bytes),
        pests=PestsUseCases(database, clock, recording, reads),
        places=PlacesUseCases(database),
        reads=reads,
        sweep=SweepUseCases(clock, cases, coverage),
        erasure=ErasureAnswering(database, outbox, clock, erase_copies, InspectionsErasureApplied),
        access=AccessAnswering(
            database, outbox, clock, collector(reads), InspectionsAccessAnswered
        ),
    )


def retention_job(
    database: Database, settings: InspectionsSettings, clock: Clock | None = None
) -> RetentionJob:
    """Inspections' retention policy, applied to its own categories and the common ones."""
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


class _Unconfigured:
    async def key_of(self, subject_id: uuid.UUID) -> str | None:
        raise SubjectKeyUnavailable("no source of subject keys is configured")

    async def keys_of(self, subject_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str | None]:
        raise SubjectKeyUnavailable("no source of subject keys is configured")


UNCONFIGURED_KEYS: SubjectKeySource = _Unconfigured()


def create_retention(settings: InspectionsSettings | None = None) -> RetentionJob:
    """The retention job on a database of its own (`linli retention run inspections`)."""
    settings = settings or InspectionsSettings()
    return retention_job(Database(settings.database_url), settings)


def create_app(
    settings: InspectionsSettings | None = None, subject_keys: SubjectKeySource | None = None
) -> FastAPI:
    """The HTTP API. Subject keys come from the registry's API unless `subject_keys` says
    otherwise (`linli run` asks the registry in its own process)."""
    settings = settings or InspectionsSettings()
    database = Database(settings.database_url)
    keys = CachedSubjectKeys(
        subject_keys or settings.subject_keys(), settings.registry_cache_seconds
    )
    built = build_use_cases(
        database, SystemClock(), settings.policy(), settings.evidence_max_bytes, keys
    )
    probe = backlog_probe(NAME, settings, database, tables.outbox, subscriptions(built))
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
        audit_log=AuditLog(database, tables.audit, query_hash=settings.audit_hash()),
        retention=retention_job(database, settings),
        body_limits={"/v1/evidence": settings.evidence_max_bytes},
    )
    app.state.use_cases = built
    return app


def create_worker(settings: InspectionsSettings | None = None) -> Worker:
    settings = settings or InspectionsSettings()
    database = Database(settings.database_url)
    built = build_use_cases(database, SystemClock(), settings.policy(), settings.evidence_max_bytes)
    interval = settings.sweep_interval_seconds

    async def scheduler(stop: asyncio.Event) -> None:
        await built.sweep.run(stop, interval)

    return build_worker(
        NAME,
        settings,
        database,
        tables.outbox,
        tables.inbox,
        subscriptions(built),
        retention_job(database, settings),
        background=[scheduler],
    )


DEFINITION = ServiceDefinition(
    name=NAME,
    settings=InspectionsSettings,
    create_app=create_app,
    create_worker=create_worker,
    migrations_dir=MIGRATIONS,
    create_retention=create_retention,
)
