"""Composition helpers every service's `app.py` uses, and how the `linli` command sees a service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import Table

from linli_shared.clock import Clock
from linli_shared.contracts import CATALOGUE
from linli_shared.contracts.topics import dead_letter_topic
from linli_shared.db import Database
from linli_shared.health import ReadinessCheck
from linli_shared.messaging.backlog import BacklogProbe
from linli_shared.messaging.embedded import EmbeddedTransport
from linli_shared.messaging.inbox import Inbox
from linli_shared.messaging.outbox import OUTBOX_CHANNEL, OutboxRelay
from linli_shared.messaging.processing import Subscription
from linli_shared.messaging.transports import lag_source, make_transport
from linli_shared.messaging.worker import BackgroundTask, Worker
from linli_shared.migrations import schema_check
from linli_shared.retention import (
    DEAD_LETTERS,
    RetentionJob,
    Sweep,
    common_sweeps,
    load_retention_book,
)
from linli_shared.settings import ServiceSettings


@dataclass(frozen=True)
class ServiceDefinition:
    name: str
    settings: Callable[[], ServiceSettings]
    create_app: Callable[[], FastAPI]
    create_worker: Callable[[], Worker]
    migrations_dir: Path
    # The retention job on a database of its own (`linli retention`); dispose `job.database`.
    create_retention: Callable[[], RetentionJob]


def disposing(
    database: Database, *background: BackgroundTask
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A FastAPI lifespan that runs `background` loops while the app serves, and stops them and
    closes the service's connection pool on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(task(stop)) for task in background]
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await database.dispose()

    return lifespan


def backlog_probe(
    name: str,
    settings: ServiceSettings,
    database: Database,
    outbox: Table,
    subscriptions: Sequence[Subscription],
) -> BacklogProbe:
    """What an API measures on a timer: its consumer groups' lag and its outbox backlog."""
    platform = settings.platform
    return BacklogProbe(
        service=name,
        database=database,
        outbox=outbox,
        lag_source=lag_source(platform, client_id=f"linli-{name}-api"),
        groups={s.group: s.topics for s in subscriptions},
        interval=platform.backlog_probe_interval_seconds,
    )


def api_readiness(database: Database, migrations_dir: Path) -> dict[str, ReadinessCheck]:
    """What an API's `/readyz` checks: its database answers, at the head of its migrations.

    Not the broker: an API only writes to its outbox, which holds the events while the broker is
    away, so a broker outage must not take HTTP traffic down. The workers' readiness and their
    `linli_broker_up` metric say whether the broker answers.
    """
    return {"database": database.ping, "schema": schema_check(database, migrations_dir)}


def build_retention(
    name: str,
    settings: ServiceSettings,
    database: Database,
    *,
    shipped_policies: Path,
    audit: Table,
    outbox: Table,
    inbox: Table,
    sweeps: Mapping[str, Sweep],
    consumes: bool,
    clock: Clock | None = None,
) -> RetentionJob:
    """The service's retention job: its own categories (`sweeps`) and those every service has
    (outbox, inbox, audit trail; dead letters, applied by the broker, when it consumes), under
    the policy files of `LINLI_<SERVICE>_RETENTION_POLICY_DIR` or the shipped ones."""
    every = {**sweeps, **common_sweeps(database, outbox=outbox, inbox=inbox, audit=audit)}
    elsewhere = [DEAD_LETTERS] if consumes else []
    directory = settings.retention_policy_dir or shipped_policies
    platform = settings.platform
    return RetentionJob(
        service=name,
        database=database,
        audit=audit,
        book=load_retention_book(directory, [*every, *elsewhere]),
        sweeps=every,
        elsewhere=elsewhere,
        batch_size=platform.prune_batch_size,
        interval_seconds=platform.prune_interval_seconds,
        clock=clock,
    )


def _expiring(transport: EmbeddedTransport, subscriptions: Sequence[Subscription]) -> Sweep:
    """The dead letters of this service's groups in the embedded event log, which no broker
    expires: deleted by the retention job like its other categories."""
    topics = sorted(dead_letter_topic(topic, s.group) for s in subscriptions for topic in s.topics)

    async def expire(before: datetime, batch_size: int) -> int:
        return await transport.delete_before(topics, before)

    return expire


def build_worker(
    name: str,
    settings: ServiceSettings,
    database: Database,
    outbox: Table,
    inbox: Table,
    subscriptions: Sequence[Subscription],
    retention: RetentionJob,
    background: Sequence[BackgroundTask] = (),
) -> Worker:
    platform = settings.platform
    dead_letters = retention.policy().periods.get(DEAD_LETTERS)
    transport = make_transport(
        platform,
        client_id=f"linli-{name}",
        dead_letter_retention=dead_letters.length if dead_letters else None,
    )
    if isinstance(transport, EmbeddedTransport) and DEAD_LETTERS in retention.elsewhere:
        retention.apply_here(DEAD_LETTERS, _expiring(transport, subscriptions))
    relay = OutboxRelay(
        database,
        outbox,
        transport,
        batch_size=platform.relay_batch_size,
        poll_interval=platform.relay_poll_interval_seconds,
        service=name,
        wakeup=platform.wakeup(database.url, OUTBOX_CHANNEL, platform.relay_poll_interval_seconds),
    )
    return Worker(
        name=name,
        database=database,
        transport=transport,
        relay=relay,
        inbox=Inbox(inbox),
        subscriptions=subscriptions,
        catalogue=CATALOGUE,
        retry=platform.retry_policy(),
        background=[*background, retention.run],
        batch_size=platform.consumer_batch_size,
    )
