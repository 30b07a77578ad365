"""A service's worker process: the outbox relay plus its consumer groups, until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, Protocol

from fastapi import FastAPI

from linli_shared.aio import sleep_or_stop
from linli_shared.contracts.base import EventCatalogue
from linli_shared.db import Database
from linli_shared.health import CachedCheck, ReadinessCheck, health_router
from linli_shared.messaging.inbox import Inbox
from linli_shared.messaging.outbox import OutboxRelay, RecordSink
from linli_shared.messaging.processing import (
    RecordProcessor,
    RetryPolicy,
    Subscription,
    all_topics,
)
from linli_shared.messaging.records import OutgoingRecord, Process, ProcessBatch
from linli_shared.metrics import BROKER_UP

log = logging.getLogger(__name__)

# A loop the worker runs beside its consumers until the stop event (e.g. notify's dispatcher).
BackgroundTask = Callable[[asyncio.Event], Coroutine[Any, Any, None]]

# How often a worker asks the broker, probes or not, so `linli_broker_up` stays current.
BROKER_WATCH_SECONDS = 15.0


class Transport(Protocol):
    """The bus port: Kafka in production, the embedded log on one machine."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, records: Sequence[OutgoingRecord]) -> None: ...

    async def ensure_topics(self, topics: Iterable[str]) -> None: ...

    async def ping(self) -> None:
        """Return when the bus answers; raise when it does not."""

    def consuming(self, group: str) -> bool:
        """True once this process consumes for `group` (joined, partitions assigned)."""

    async def consume(
        self, group: str, topics: Sequence[str], process: Process, stop: asyncio.Event
    ) -> None: ...

    async def consume_batches(
        self,
        group: str,
        topics: Sequence[str],
        process: ProcessBatch,
        stop: asyncio.Event,
        batch_size: int,
    ) -> None: ...


class Worker:
    def __init__(
        self,
        *,
        name: str,
        database: Database,
        transport: Transport,
        relay: OutboxRelay | None,
        inbox: Inbox | None,
        subscriptions: Sequence[Subscription],
        catalogue: EventCatalogue,
        retry: RetryPolicy,
        background: Sequence[BackgroundTask] = (),
        batch_size: int = 1,
    ) -> None:
        self.name = name
        self._background = background
        self._database = database
        self._transport = transport
        self._relay = relay
        self._inbox = inbox
        self._subscriptions = subscriptions
        self._catalogue = catalogue
        self._retry = retry
        self._batch_size = batch_size
        self.stop_event = asyncio.Event()
        self._broker_ping = CachedCheck(transport.ping)

    @property
    def subscriptions(self) -> Sequence[Subscription]:
        return self._subscriptions

    async def outbox_backlog(self) -> int:
        return await self._relay.backlog() if self._relay is not None else 0

    async def run(self) -> None:
        """Run until `stop_event`; in-flight handlers finish and offsets commit before return."""
        watching = asyncio.create_task(self._watch_broker())
        try:
            await self._start_transport()
            try:
                tasks = [asyncio.create_task(self._consume(s)) for s in self._subscriptions]
                if self._relay is not None:
                    tasks.append(asyncio.create_task(self._relay.run(self.stop_event)))
                tasks.extend(
                    asyncio.create_task(task(self.stop_event)) for task in self._background
                )
                await asyncio.gather(*tasks)
            finally:
                await self._transport.stop()
                await self._database.dispose()
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)

    async def _start_transport(self) -> None:
        """Wait for the broker rather than crash-loop when it is not up yet."""
        while True:
            try:
                await self._transport.start()
                await self._transport.ensure_topics(
                    self._catalogue.topics() | all_topics(self._subscriptions)
                )
                return
            except Exception as error:
                log.warning("transport not ready (%s); retrying", error)
                await self._transport.stop()
                if self.stop_event.is_set():
                    raise
                await asyncio.sleep(1.0)

    def processor(
        self, subscription: Subscription, dead_letters: RecordSink | None = None
    ) -> RecordProcessor:
        """How this worker applies the records of a subscription (dead letters to its bus)."""
        if self._inbox is None:
            raise ValueError("a worker with subscriptions needs an inbox table")
        return RecordProcessor(
            subscription,
            self._database,
            self._inbox,
            self._catalogue,
            dead_letters or self._transport,
            self._retry,
            self.stop_event,
        )

    async def dispose(self) -> None:
        """Close the database pool of a worker that was never run."""
        await self._database.dispose()

    async def _consume(self, subscription: Subscription) -> None:
        processor = self.processor(subscription)
        while not self.stop_event.is_set():
            try:
                await self._transport.consume_batches(
                    subscription.group,
                    subscription.topics,
                    processor.process_batch,
                    self.stop_event,
                    self._batch_size,
                )
            except Exception:
                log.exception("consumer %s failed; restarting", subscription.group)
                await asyncio.sleep(1.0)

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        return {
            "database": self._database.ping,
            "broker": self._broker_reachable,
            "consumers": self._consumers_joined,
        }

    async def _broker_reachable(self) -> None:
        """Ask the bus (cached a few seconds) and keep `linli_broker_up` to the answer."""
        try:
            await self._broker_ping()
        except Exception:
            BROKER_UP.labels(self.name).set(0)
            raise
        BROKER_UP.labels(self.name).set(1)

    async def _watch_broker(self) -> None:
        """Keep `linli_broker_up` fresh between readiness probes, until `stop_event`."""
        while not self.stop_event.is_set():
            with contextlib.suppress(Exception):
                await self._broker_reachable()
            await sleep_or_stop(self.stop_event, BROKER_WATCH_SECONDS)

    async def _consumers_joined(self) -> None:
        waiting = [s.group for s in self._subscriptions if not self._transport.consuming(s.group)]
        if waiting:
            raise RuntimeError(f"not consuming yet: {', '.join(waiting)}")

    def health_app(self) -> FastAPI:
        """`/healthz`, `/readyz` and `/metrics` of this worker (served on its metrics port)."""
        app = FastAPI(
            title=f"linli-{self.name}-worker", openapi_url=None, docs_url=None, redoc_url=None
        )
        app.include_router(health_router(self.readiness_checks()))
        return app

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
