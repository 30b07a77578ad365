"""What waits, measured from outside the workers: consumer lag and the outbox backlog.

A worker cannot report its own lag once it is stopped or stuck, which is exactly when the lag
matters. So each service's API measures, on a timer, its consumer groups' committed offsets
against the end offsets of their topics (from the brokers, or the embedded log) and the events
waiting in its outbox (from its database), and exports them as gauges. The measurement never
touches a request or readiness: a broker or database that does not answer only sets
`linli_backlog_probe_success{source}` to 0 and removes the series it can no longer vouch for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC
from typing import Protocol

from prometheus_client import Gauge
from sqlalchemy import Table

from linli_shared.aio import sleep_or_stop
from linli_shared.clock import Clock, SystemClock
from linli_shared.db import Database
from linli_shared.messaging.outbox import unpublished
from linli_shared.messaging.records import PartitionLag
from linli_shared.metrics import (
    BACKLOG_PROBE_SUCCESS,
    BACKLOG_PROBE_TIMESTAMP,
    CONSUMER_LAG,
    CONSUMER_OFFSET,
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
)

log = logging.getLogger(__name__)

OUTBOX = "outbox"
CONSUMERS = "consumers"


class LagSource(Protocol):
    """Where consumer groups stand: Kafka's offsets, or the embedded log's."""

    async def consumer_lag(self, groups: Mapping[str, Sequence[str]]) -> list[PartitionLag]: ...


class BacklogProbe:
    def __init__(
        self,
        *,
        service: str,
        database: Database,
        outbox: Table,
        lag_source: LagSource,
        groups: Mapping[str, Sequence[str]],
        interval: float,
        timeout: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        """`groups`: the service's consumer groups and their topics."""
        self._service = service
        self._database = database
        self._outbox = outbox
        self._lag_source = lag_source
        self._groups = {group: list(topics) for group, topics in groups.items()}
        self._interval = interval
        self._timeout = timeout
        self._clock = clock or SystemClock()
        self._partitions: set[tuple[str, str, str]] = set()
        self._failing: set[str] = set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.measure()
            await sleep_or_stop(stop, self._interval)

    async def measure(self) -> None:
        """Measure both sources once; each one's failure is recorded, never raised."""
        await asyncio.gather(
            self._measured(OUTBOX, self._measure_outbox, self._forget_outbox),
            self._measured(CONSUMERS, self._measure_lag, self._forget_lag),
        )

    async def _measured(
        self, source: str, measure: Callable[[], Awaitable[None]], forget: Callable[[], None]
    ) -> None:
        try:
            await asyncio.wait_for(measure(), self._timeout)
        except Exception as error:
            forget()
            BACKLOG_PROBE_SUCCESS.labels(self._service, source).set(0)
            if source not in self._failing:
                self._failing.add(source)
                log.warning("cannot measure the %s of %s: %s", source, self._service, error)
            return
        BACKLOG_PROBE_SUCCESS.labels(self._service, source).set(1)
        BACKLOG_PROBE_TIMESTAMP.labels(self._service, source).set(self._clock.now().timestamp())
        if source in self._failing:
            self._failing.discard(source)
            log.info("measuring the %s of %s again", source, self._service)

    async def _measure_outbox(self) -> None:
        waiting = await unpublished(self._database, self._outbox)
        OUTBOX_BACKLOG.labels(self._service).set(waiting.count)
        age = 0.0
        if waiting.oldest is not None:
            oldest = waiting.oldest
            oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
            age = max(0.0, (self._clock.now() - oldest).total_seconds())
        OUTBOX_OLDEST_AGE.labels(self._service).set(age)

    def _forget_outbox(self) -> None:
        for gauge in (OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE):
            _remove(gauge, self._service)

    async def _measure_lag(self) -> None:
        if not self._groups:
            return
        lags = await self._lag_source.consumer_lag(self._groups)
        measured = set()
        for lag in lags:
            labels = (lag.group, lag.topic, str(lag.partition))
            CONSUMER_LAG.labels(*labels).set(lag.lag)
            CONSUMER_OFFSET.labels(*labels).set(lag.position)
            measured.add(labels)
        for gone in self._partitions - measured:
            _remove(CONSUMER_LAG, *gone)
            _remove(CONSUMER_OFFSET, *gone)
        self._partitions = measured

    def _forget_lag(self) -> None:
        """Unknown is not zero: the series go until the broker answers again."""
        for labels in self._partitions:
            _remove(CONSUMER_LAG, *labels)
            _remove(CONSUMER_OFFSET, *labels)
        self._partitions = set()


def _remove(gauge: Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        gauge.remove(*labels)
