"""The transport contract: what the services rely on from the bus, on Kafka and embedded alike.

publish/consume round trip · per-key order · consumer groups with committed offsets ·
at-least-once redelivery · dead letters through the record processor · durability over restart.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_shared.context import EventContext
from linli_shared.contracts import CATALOGUE, HouseholdRegistered
from linli_shared.contracts.base import EventData
from linli_shared.contracts.registry import MemberV1
from linli_shared.contracts.topics import dead_letter_topic
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.inbox import Inbox, inbox_table
from linli_shared.messaging.processing import (
    Outcome,
    RecordProcessor,
    RetryPolicy,
    Subscription,
    UnknownSubject,
)
from linli_shared.messaging.records import IncomingRecord, OutgoingRecord
from tests.contract.conftest import DELIVERY_BOUND_SECONDS, Bus, consume, values

TOPIC = "contract.orders.v1"


class Crash(Exception):
    """A handler blowing up in the middle of a partition."""


def record(key: str, value: str, **headers: bytes) -> OutgoingRecord:
    return OutgoingRecord(topic=TOPIC, key=key, value=value.encode(), headers=dict(headers))


async def test_a_record_comes_back_as_it_was_sent(bus: Bus) -> None:
    producer = await bus.transport("producer")
    await producer.ensure_topics([TOPIC])
    headers = {"content-type": b"application/json", "x-b": b"\0\xff"}
    await producer.send([record("household-1", '{"n": 1}', **headers)])

    consumer = await bus.transport("consumer")
    [received] = await consume(consumer, "round-trip", [TOPIC], 1)

    assert received.topic == TOPIC
    assert received.key == b"household-1"
    assert received.value == b'{"n": 1}'
    assert received.headers == headers
    assert received.offset == 0


async def test_records_of_one_key_arrive_in_the_order_they_were_sent(bus: Bus) -> None:
    keys = [f"household-{i}" for i in range(24)]
    per_key = 12
    producer = await bus.transport("producer")
    await producer.ensure_topics([TOPIC])
    # Interleaved across keys, in several sends of different sizes.
    sent = [record(key, f"{key}/{n}") for n in range(per_key) for key in keys]
    for start, end in [(0, 1), (1, 40), (40, 41), (41, 200), (200, len(sent))]:
        await producer.send(sent[start:end])

    consumer = await bus.transport("consumer")
    received = await consume(consumer, "order", [TOPIC], len(sent))

    by_key: dict[str, list[IncomingRecord]] = defaultdict(list)
    for incoming in received:
        by_key[(incoming.key or b"").decode()].append(incoming)
    assert sorted(by_key) == sorted(keys)
    for key, records in by_key.items():
        assert values(records) == [f"{key}/{n}" for n in range(per_key)], key
        assert len({r.partition for r in records}) == 1, f"{key} moved partition"
        offsets = [r.offset for r in records]
        assert offsets == sorted(offsets)
    assert len({r.partition for r in received}) > 1, "24 keys should spread over partitions"


async def test_a_partition_that_waits_holds_back_no_other(bus: Bus) -> None:
    """The inspection waits for its household, whose registration comes on another topic after
    the inspection was first polled: the registration is polled and applied meanwhile, and the
    inspection goes on. Before lanes, the next poll waited for every partition of the last one,
    so the inspection waited out its whole bound (then would be dead-lettered)."""
    registrations = "contract.registry.v1"
    producer = await bus.transport("producer")
    await producer.ensure_topics([TOPIC, registrations])
    await producer.send([record("household-1", "inspection")])
    waiting, registered = asyncio.Event(), asyncio.Event()
    outcomes: list[str] = []
    stop = asyncio.Event()

    async def process(incoming: IncomingRecord) -> None:
        if incoming.topic == registrations:
            registered.set()
            return
        waiting.set()
        try:
            await asyncio.wait_for(registered.wait(), 20)
            outcomes.append("applied")
        except TimeoutError:
            outcomes.append("waited out its bound")
        stop.set()

    consumer = await bus.transport("consumer")
    consuming = asyncio.create_task(
        consumer.consume("lanes", [TOPIC, registrations], process, stop)
    )
    await asyncio.wait_for(waiting.wait(), DELIVERY_BOUND_SECONDS)
    await producer.send(
        [OutgoingRecord(topic=registrations, key="household-1", value=b"registration")]
    )
    await asyncio.wait_for(consuming, DELIVERY_BOUND_SECONDS)

    assert outcomes == ["applied"]


async def test_every_consumer_group_gets_every_record(bus: Bus) -> None:
    producer = await bus.transport("producer")
    await producer.ensure_topics([TOPIC])
    sent = [record(f"k{i % 7}", f"v{i}") for i in range(30)]
    await producer.send(sent)

    first, second = await asyncio.gather(
        consume(await bus.transport("a"), "group-a", [TOPIC], len(sent)),
        consume(await bus.transport("b"), "group-b", [TOPIC], len(sent)),
    )

    expected = sorted(f"v{i}" for i in range(30))
    assert sorted(values(first)) == expected
    assert sorted(values(second)) == expected


async def test_a_group_resumes_from_its_committed_offset(bus: Bus) -> None:
    producer = await bus.transport("producer")
    await producer.ensure_topics([TOPIC])
    await producer.send([record("one-key", f"v{i}") for i in range(10)])

    before = await consume(await bus.transport("c1"), "resuming", [TOPIC], 4)
    assert values(before) == ["v0", "v1", "v2", "v3"]

    after = await consume(await bus.transport("c2"), "resuming", [TOPIC], 6)
    assert values(after) == [f"v{i}" for i in range(4, 10)]


async def test_uncommitted_records_are_delivered_again_after_a_crash(bus: Bus) -> None:
    producer = await bus.transport("producer")
    await producer.ensure_topics([TOPIC])
    await producer.send([record("one-key", f"v{i}") for i in range(8)])
    crashed = False

    def crash_once_on_v5(incoming: IncomingRecord) -> None:
        nonlocal crashed
        if incoming.value == b"v5" and not crashed:
            crashed = True
            raise Crash("handler died on v5")

    with pytest.raises(Crash):
        await consume(await bus.transport("c1"), "crashing", [TOPIC], 8, before=crash_once_on_v5)

    # v0..v4 were processed and committed; v5 was not, so it comes again, and so does the rest.
    again = await consume(await bus.transport("c2"), "crashing", [TOPIC], 3)
    assert values(again) == ["v5", "v6", "v7"]


async def test_the_log_and_the_committed_offsets_survive_a_restart(bus: Bus) -> None:
    producer = await bus.transport("producer")
    await producer.ensure_topics([TOPIC])
    await producer.send([record(f"k{i % 3}", f"v{i}") for i in range(9)])
    await producer.send([record("one-key", "late")])
    first = await consume(await bus.transport("c1"), "durable", [TOPIC], 10)

    await bus.restart()  # everything stopped; the embedded log file is closed

    producer = await bus.transport("producer-2")
    await producer.send([record("one-key", "after-restart")])
    after = await consume(await bus.transport("c2"), "durable", [TOPIC], 1)
    assert values(after) == ["after-restart"]
    assert sorted(values(first)) == sorted([f"v{i}" for i in range(9)] + ["late"])

    # A group that never read still finds everything, in per-key order.
    fresh = await consume(await bus.transport("c3"), "latecomer", [TOPIC], 11)
    assert len(fresh) == 11
    assert values([r for r in fresh if r.key == b"one-key"]) == ["late", "after-restart"]


async def test_what_cannot_be_applied_is_dead_lettered(bus: Bus, tmp_path: Path) -> None:
    """Through the record processor, as a worker runs it: a malformed record and an event whose
    handler keeps failing both end up on `<topic>.dlq.<group>`, and the group moves on."""
    group = "contract-dlq"
    database = Database(f"sqlite:///{tmp_path / 'consumer.db'}")
    metadata = MetaData()
    inbox = inbox_table(metadata)
    async with database.transaction() as connection:
        await connection.run_sync(metadata.create_all)

    async def refuse(connection: AsyncConnection, event: EventData, envelope: Envelope) -> None:
        raise ValueError("this handler refuses every household")

    transport = await bus.transport("dlq-worker")
    subscription = Subscription(group, {HouseholdRegistered: refuse})
    [topic] = subscription.topics
    dlq = dead_letter_topic(topic, group)
    await transport.ensure_topics([topic, dlq])
    stop = asyncio.Event()
    processor = RecordProcessor(
        subscription,
        database,
        Inbox(inbox),
        CATALOGUE,
        transport,
        RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.05),
        stop,
    )
    event = _household_registered()
    valid = Envelope.wrap(event, source="/contract", context=EventContext("corr-dlq"))
    await transport.send(
        [
            OutgoingRecord(topic=topic, key=event.partition_key(), value=b"{not json"),
            OutgoingRecord(topic=topic, key=event.partition_key(), value=valid.to_json()),
        ]
    )

    outcomes: list[Outcome] = []

    async def process(incoming: IncomingRecord) -> None:
        outcomes.append(await processor.process(incoming))
        if len(outcomes) == 2:
            stop.set()

    await asyncio.wait_for(transport.consume(group, [topic], process, stop), 90)
    assert outcomes == [Outcome.DEAD_LETTERED, Outcome.DEAD_LETTERED]

    letters = await consume(await bus.transport("dlq-reader"), "dlq-reader", [dlq], 2)
    assert [letter.value for letter in letters] == [b"{not json", valid.to_json()]
    assert all(letter.key == event.partition_key().encode() for letter in letters)
    malformed, failed = (letter.headers for letter in letters)
    assert malformed["linli-dlq-reason"] == b"malformed"
    assert failed["linli-dlq-reason"] == b"handler-failed"
    assert b"refuses every household" in failed["linli-dlq-error"]
    assert failed["linli-dlq-attempts"] == b"2"
    for headers in (malformed, failed):
        assert headers["linli-dlq-source-topic"] == topic.encode()
        assert headers["linli-dlq-consumer-group"] == group.encode()
    await database.dispose()


async def test_an_event_about_an_unknown_subject_waits_a_bounded_time_then_is_dead_lettered(
    bus: Bus, tmp_path: Path
) -> None:
    """A handler that does not know the event's subject yet raises UnknownSubject: the event is
    retried (beyond the handler-failure attempts) while its registration may be on its way, and
    applied once it is known; a subject that never becomes known is dead-lettered as
    `unknown-subject` when the wait is over, and the group moves on."""
    group = "contract-unknown"
    database = Database(f"sqlite:///{tmp_path / 'consumer.db'}")
    metadata = MetaData()
    inbox = inbox_table(metadata)
    async with database.transaction() as connection:
        await connection.run_sync(metadata.create_all)
    late, ghost = _household_registered(), _household_registered()
    asked: dict[uuid.UUID, int] = defaultdict(int)

    async def apply(connection: AsyncConnection, event: EventData, envelope: Envelope) -> None:
        assert isinstance(event, HouseholdRegistered)
        asked[event.household_id] += 1
        # `late` becomes known at the fourth try (more than max_attempts); `ghost` never does.
        if event.household_id == ghost.household_id or asked[event.household_id] < 4:
            raise UnknownSubject(event.household_id, "household")

    transport = await bus.transport("unknown-worker")
    subscription = Subscription(group, {HouseholdRegistered: apply})
    [topic] = subscription.topics
    dlq = dead_letter_topic(topic, group)
    await transport.ensure_topics([topic, dlq])
    envelopes = [
        Envelope.wrap(event, source="/contract", context=EventContext("corr-unknown"))
        for event in (late, ghost)
    ]
    await transport.send(
        [
            OutgoingRecord(topic=topic, key=str(late.household_id), value=e.to_json())
            for e in envelopes
        ]
    )
    stop = asyncio.Event()
    processor = RecordProcessor(
        subscription,
        database,
        Inbox(inbox),
        CATALOGUE,
        transport,
        RetryPolicy(
            max_attempts=2, initial_backoff=0.01, max_backoff=0.05, unknown_subject_wait=1.0
        ),
        stop,
    )
    outcomes: list[Outcome] = []

    async def process(incoming: IncomingRecord) -> None:
        outcomes.append(await processor.process(incoming))
        if len(outcomes) == 2:
            stop.set()

    await asyncio.wait_for(transport.consume(group, [topic], process, stop), 90)

    assert outcomes == [Outcome.APPLIED, Outcome.DEAD_LETTERED]
    assert asked[late.household_id] == 4
    [letter] = await consume(await bus.transport("unknown-reader"), "unknown-reader", [dlq], 1)
    assert letter.value == envelopes[1].to_json()
    assert letter.headers["linli-dlq-reason"] == b"unknown-subject"
    assert str(ghost.household_id).encode() in letter.headers["linli-dlq-error"]
    await database.dispose()


async def test_a_poison_event_in_a_batch_is_dead_lettered_alone_and_the_rest_commit(
    bus: Bus, tmp_path: Path
) -> None:
    """Five events of one household arrive as one batch (one transaction); the third one's
    handler fails. The batch falls back to one at a time: the poison event alone reaches the
    dead-letter topic, the four others are applied once each, in order, and nothing is lost."""
    group = "contract-batch"
    database = Database(f"sqlite:///{tmp_path / 'consumer.db'}")
    metadata = MetaData()
    inbox = inbox_table(metadata)
    effects = Table("effects", metadata, Column("address", String(100), nullable=False))
    async with database.transaction() as connection:
        await connection.run_sync(metadata.create_all)

    async def apply(connection: AsyncConnection, event: EventData, envelope: Envelope) -> None:
        assert isinstance(event, HouseholdRegistered)
        await connection.execute(insert(effects).values(address=event.address))
        if event.address == "poison":
            raise ValueError("this handler cannot apply the poison event")

    transport = await bus.transport("batch-worker")
    subscription = Subscription(group, {HouseholdRegistered: apply})
    [topic] = subscription.topics
    dlq = dead_letter_topic(topic, group)
    await transport.ensure_topics([topic, dlq])
    household = uuid.uuid4()
    addresses = ["first", "second", "poison", "fourth", "fifth"]
    envelopes = [
        Envelope.wrap(
            _household_registered().model_copy(update={"household_id": household, "address": a}),
            source="/contract",
            context=EventContext("corr-batch"),
        )
        for a in addresses
    ]
    await transport.send(
        [OutgoingRecord(topic=topic, key=str(household), value=e.to_json()) for e in envelopes]
    )
    stop = asyncio.Event()
    processor = RecordProcessor(
        subscription,
        database,
        Inbox(inbox),
        CATALOGUE,
        transport,
        RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.05),
        stop,
    )
    batch_sizes: list[int] = []
    outcomes: list[Outcome] = []

    async def process_batch(batch: Sequence[IncomingRecord]) -> None:
        batch_sizes.append(len(batch))
        outcomes.extend(await processor.process_batch(batch))
        if len(outcomes) >= len(addresses):
            stop.set()

    await asyncio.wait_for(
        transport.consume_batches(group, [topic], process_batch, stop, batch_size=10), 90
    )

    assert max(batch_sizes) > 1, "the records must have been handed over as a batch"
    assert outcomes == [
        Outcome.APPLIED,
        Outcome.APPLIED,
        Outcome.DEAD_LETTERED,
        Outcome.APPLIED,
        Outcome.APPLIED,
    ]
    async with database.transaction() as connection:
        applied = list((await connection.execute(select(effects.c.address))).scalars())
        claimed = set((await connection.execute(select(inbox.c.event_id))).scalars())
    assert applied == ["first", "second", "fourth", "fifth"]
    assert claimed == {e.id for e in envelopes if e.data["address"] != "poison"}
    [letter] = await consume(await bus.transport("batch-dlq-reader"), "batch-dlq-reader", [dlq], 1)
    assert letter.value == envelopes[2].to_json()


def _household_registered() -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id=uuid.uuid4(),
        community_id="dongcheng-01",
        grid_id="grid-01",
        address="幸福路 1 号",
        members=[MemberV1(name="王芳", relation="head")],
        contact_email="wang.fang@example.cn",
        registered_at=datetime.now(UTC),
    )
