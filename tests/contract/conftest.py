"""The transport under contract: every test here runs once on Kafka and once on the embedded log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from linli_shared.messaging.embedded import EmbeddedTransport, open_log_paths
from linli_shared.messaging.kafka import KafkaTransport
from linli_shared.messaging.operations import EmbeddedOperations, KafkaOperations, Operations
from linli_shared.messaging.records import IncomingRecord
from linli_shared.messaging.worker import Transport
from tests.support.infra import KafkaService

PARTITIONS = 3
# A bound so that a transport that never delivers fails the test instead of hanging it.
DELIVERY_BOUND_SECONDS = 90.0


@dataclass
class Bus:
    """Makes transports of one kind and stops them all at the end of the test."""

    kind: Literal["kafka", "embedded"]
    _make: Callable[[str], Transport]
    operations: Callable[[], Operations]
    _log_path: Path | None = None
    _started: list[Transport] = field(default_factory=list)

    async def transport(self, client_id: str = "contract") -> Transport:
        transport = self._make(client_id)
        await transport.start()
        self._started.append(transport)
        return transport

    async def restart(self) -> None:
        """Stop every transport of the test: on the embedded log the file is closed for real."""
        for transport in self._started:
            await transport.stop()
        self._started.clear()
        if self._log_path is not None:
            assert self._log_path.resolve() not in open_log_paths(), "the log file stayed open"

    async def close(self) -> None:
        await self.restart()


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.servers)])
async def bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bus]:
    if request.param == "kafka":
        kafka: KafkaService = request.getfixturevalue("kafka")
        namespace: str = request.getfixturevalue("kafka_namespace")
        made = Bus(
            "kafka",
            lambda client_id: KafkaTransport(
                kafka.bootstrap, client_id, partitions=PARTITIONS, namespace=namespace
            ),
            lambda: KafkaOperations(kafka.bootstrap, namespace),
        )
    else:
        path = tmp_path / "events.db"
        made = Bus(
            "embedded",
            lambda client_id: EmbeddedTransport(
                path, client_id, partitions=PARTITIONS, poll_interval=0.05
            ),
            lambda: EmbeddedOperations(path, PARTITIONS),
            path,
        )
    try:
        yield made
    finally:
        await made.close()


Process = Callable[[IncomingRecord], Awaitable[object]]


async def consume(
    transport: Transport,
    group: str,
    topics: Sequence[str],
    count: int,
    *,
    before: Callable[[IncomingRecord], None] | None = None,
) -> list[IncomingRecord]:
    """Consume as `group` until `count` records were processed, then stop (gracefully: the
    transport commits what was processed). `before` runs ahead of each record and may raise,
    like a handler that crashes; the error then comes out of `consume`."""
    received: list[IncomingRecord] = []
    stop = asyncio.Event()

    async def process(record: IncomingRecord) -> None:
        if before is not None:
            before(record)
        received.append(record)
        if len(received) >= count:
            stop.set()

    try:
        await asyncio.wait_for(
            transport.consume(group, topics, process, stop), DELIVERY_BOUND_SECONDS
        )
    except TimeoutError:
        raise AssertionError(
            f"{group} received {len(received)} of {count} records on {list(topics)}"
        ) from None
    return received


def values(records: Sequence[IncomingRecord]) -> list[str]:
    return [(record.value or b"").decode() for record in records]
