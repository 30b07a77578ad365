"""Retention: sent outbox rows and remembered inbox ids are deleted once old enough.

Without it both tables grow with every event for ever. The worker prunes at start and then
every `interval`, in bounded batches, so a large first prune never holds long locks.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Table

from linli_shared.aio import sleep_or_stop
from linli_shared.clock import Clock, SystemClock
from linli_shared.db import Database
from linli_shared.messaging.inbox import Inbox
from linli_shared.messaging.outbox import prune_sent
from linli_shared.metrics import ROWS_PRUNED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retention:
    outbox: timedelta
    inbox: timedelta
    interval_seconds: float
    batch_size: int


class Pruner:
    def __init__(
        self,
        database: Database,
        outbox: Table,
        inbox: Inbox,
        retention: Retention,
        *,
        service: str,
        clock: Clock | None = None,
    ) -> None:
        self._database = database
        self._outbox = outbox
        self._inbox = inbox
        self._retention = retention
        self._service = service
        self._clock = clock or SystemClock()

    async def prune_once(self) -> tuple[int, int]:
        """Returns (outbox rows, inbox rows) deleted."""
        now = self._clock.now()
        retention = self._retention
        sent = await prune_sent(
            self._database, self._outbox, now - retention.outbox, retention.batch_size
        )
        ROWS_PRUNED.labels(self._service, "outbox").inc(sent)
        seen = await self._inbox.prune(self._database, now - retention.inbox, retention.batch_size)
        ROWS_PRUNED.labels(self._service, "inbox").inc(seen)
        if sent or seen:
            log.info("pruned %d sent outbox rows and %d inbox rows", sent, seen)
        return sent, seen

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.prune_once()
            except Exception:
                log.exception("pruning the outbox and inbox failed; trying again later")
            await sleep_or_stop(stop, self._retention.interval_seconds)
