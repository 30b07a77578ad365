"""Partitions processed side by side, each in a lane of its own, so one that waits holds back no
other.

A consumer hands each partition's records to its lane and keeps polling the partitions whose lanes
are free; a lane that waits — for a subject whose registration is still on its way
(`UnknownSubject`, up to a minute), or for a handler backing off — keeps only its own partition
waiting. Before lanes, a poll's partitions were processed together and the next poll waited for
all of them: an inspection about a household the registry had just announced could wait out its
whole bound, and be dead-lettered, because the announcement sat unpolled in the registry's
partition behind it.

Order within a partition holds: a partition gets new records only once its lane is free. The Kafka
and the embedded transports both use it (`linli_shared.messaging.kafka`, `.embedded`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Hashable
from typing import Any, Generic, TypeVar

P = TypeVar("P", bound=Hashable)

# How long a poll waits for new records while some lane is busy: a lane that finishes is polled
# again within this, not after the idle poll's full wait.
BUSY_POLL_SECONDS = 0.02

# How often a consumer tells its group what the lanes processed (one request or write for every
# partition). A commit per partition per batch was one per record at low rates: in the loop
# benchmark a third of an idle Kafka worker's CPU, and on the embedded log an fsync each. What a
# crash leaves uncommitted comes back, and the inbox absorbs it.
COMMIT_INTERVAL_SECONDS = 0.2


class Lanes(Generic[P]):
    def __init__(self) -> None:
        self._running: dict[P, asyncio.Task[None]] = {}
        self._failure: BaseException | None = None
        self.idle = asyncio.Event()
        self.idle.set()
        self.finished = asyncio.Event()  # a lane finished since the consumer last cleared it

    def busy(self) -> set[P]:
        return set(self._running)

    def poll_seconds(self, idle_wait: float) -> float:
        """How long the next poll may wait for records: short while a lane is busy."""
        return BUSY_POLL_SECONDS if self._running else idle_wait

    def start(self, partition: P, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` (the partition's records, in order) in the partition's lane."""
        if partition in self._running:
            work.close()
            raise RuntimeError(f"{partition} is already being processed")
        task = asyncio.create_task(work)
        self._running[partition] = task
        self.idle.clear()
        task.add_done_callback(lambda done: self._finished(partition, done))

    def _finished(self, partition: P, task: asyncio.Task[None]) -> None:
        if self._running.get(partition) is task:
            del self._running[partition]
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()
        self.finished.set()
        if not self._running:
            self.idle.set()

    async def wait_for_one(self, seconds: float) -> None:
        """Until a lane finishes, or `seconds` pass."""
        if self._running:
            await asyncio.wait(
                list(self._running.values()),
                timeout=seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )

    async def check(self) -> None:
        """Raise the first lane's failure, once every other lane has finished (each commits
        what it processed)."""
        if self._failure is not None:
            await self.finish()
            raise self._failure

    async def finish(self) -> None:
        """Until every lane has finished (each stops at its next batch once asked to stop)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)
