"""Records as transports see them: bytes with a topic, a key and headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    key: str
    value: bytes
    headers: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class IncomingRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class PartitionLag:
    """Where a consumer group stands in one partition: its committed position (the next record
    it will read; the log's beginning when it never committed) and the log's end."""

    group: str
    topic: str
    partition: int
    position: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.position)


# What a transport hands its records to: one at a time, or consecutive records of one partition.
Process = Callable[[IncomingRecord], Awaitable[object]]
ProcessBatch = Callable[[Sequence[IncomingRecord]], Awaitable[object]]


def one_by_one(process: Process) -> ProcessBatch:
    async def process_batch(records: Sequence[IncomingRecord]) -> None:
        for record in records:
            await process(record)

    return process_batch


def chunked(records: Sequence[IncomingRecord], size: int) -> Iterator[Sequence[IncomingRecord]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]
