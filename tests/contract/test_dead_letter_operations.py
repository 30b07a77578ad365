"""What an operator finds and re-drives in the dead letters, on Kafka and the embedded log alike:
each dead letter's event (id, type, subject, correlation id), why, how often and when it failed;
filters by correlation id, type and reason; the replay of one dead letter by its event id."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import MetaData
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
)
from linli_shared.messaging.records import IncomingRecord, OutgoingRecord
from tests.contract.conftest import Bus, consume

GROUP = "ops-dlq"


@dataclass(frozen=True)
class DeadLettered:
    topic: str
    dead_letter_topic: str
    first: Envelope
    second: Envelope


async def _dead_letter_three(bus: Bus, tmp_path: Path) -> DeadLettered:
    """A malformed record and two events (correlations corr-first, corr-second) whose handler
    always fails, through the record processor as a worker runs it."""
    database = Database(f"sqlite:///{tmp_path / 'consumer.db'}")
    metadata = MetaData()
    inbox = inbox_table(metadata)
    async with database.transaction() as connection:
        await connection.run_sync(metadata.create_all)

    async def refuse(connection: AsyncConnection, event: EventData, envelope: Envelope) -> None:
        raise ValueError("this handler refuses every household")

    transport = await bus.transport("ops-worker")
    subscription = Subscription(GROUP, {HouseholdRegistered: refuse})
    [topic] = subscription.topics
    dlq = dead_letter_topic(topic, GROUP)
    await transport.ensure_topics([topic, dlq])
    first = Envelope.wrap(_registered(), source="/ops", context=EventContext("corr-first"))
    second = Envelope.wrap(_registered(), source="/ops", context=EventContext("corr-second"))
    await transport.send(
        [
            OutgoingRecord(topic=topic, key=first.subject, value=b"{not json"),
            OutgoingRecord(topic=topic, key=first.subject, value=first.to_json()),
            OutgoingRecord(topic=topic, key=second.subject, value=second.to_json()),
        ]
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
    outcomes: list[Outcome] = []

    async def process(incoming: IncomingRecord) -> None:
        outcomes.append(await processor.process(incoming))
        if len(outcomes) == 3:
            stop.set()

    await asyncio.wait_for(transport.consume(GROUP, [topic], process, stop), 90)
    await database.dispose()
    assert outcomes == [Outcome.DEAD_LETTERED] * 3
    return DeadLettered(topic, dlq, first, second)


async def test_a_dead_letter_shows_its_event_why_how_often_and_when_it_failed(
    bus: Bus, tmp_path: Path
) -> None:
    setup = await _dead_letter_three(bus, tmp_path)
    operations = bus.operations()

    assert await operations.dead_letter_topics(GROUP) == [setup.dead_letter_topic]
    letters = await operations.read_dead_letters([setup.dead_letter_topic])
    summaries = {letter.summary()["correlation_id"]: letter.summary() for letter in letters}
    assert set(summaries) == {"", "corr-first", "corr-second"}

    failed = summaries["corr-first"]
    assert failed["id"] == setup.first.id
    assert failed["type"] == HouseholdRegistered.event_type
    assert failed["subject"] == setup.first.subject
    assert failed["reason"] == "handler-failed"
    assert failed["attempts"] == 2
    assert failed["consumer_group"] == GROUP
    assert failed["source"].startswith(f"{setup.topic}:")
    assert "refuses every household" in failed["error"]
    first_failed = datetime.fromisoformat(failed["first_failed_at"])
    last_failed = datetime.fromisoformat(failed["last_failed_at"])
    assert first_failed.tzinfo is not None
    assert first_failed <= last_failed

    malformed = summaries[""]
    assert malformed["reason"] == "malformed"
    assert malformed["attempts"] == 1
    assert malformed["subject"] == setup.first.subject  # the record's key stands in
    assert malformed["first_failed_at"] == malformed["last_failed_at"] != ""


async def test_dead_letters_are_filtered_by_correlation_id_type_and_reason(
    bus: Bus, tmp_path: Path
) -> None:
    setup = await _dead_letter_three(bus, tmp_path)
    letters = await bus.operations().read_dead_letters([setup.dead_letter_topic])

    def ids(**wanted: str) -> list[str]:
        return [letter.event_id for letter in letters if letter.matches(**wanted)]

    assert ids(correlation_id="corr-second") == [setup.second.id]
    assert sorted(ids(event_type=HouseholdRegistered.event_type)) == sorted(
        [setup.first.id, setup.second.id]
    )
    assert ids(reason="malformed") == [""]
    assert ids(reason="handler-failed", correlation_id="corr-first") == [setup.first.id]
    assert ids(correlation_id="corr-nobody") == []


async def test_one_dead_letter_is_replayed_by_its_event_id(bus: Bus, tmp_path: Path) -> None:
    setup = await _dead_letter_three(bus, tmp_path)
    operations = bus.operations()
    [before] = [
        letter
        for letter in await operations.read_dead_letters([setup.dead_letter_topic])
        if letter.event_id == setup.second.id
    ]

    replayed = await operations.replay_dead_letters(
        [setup.dead_letter_topic], event_id=setup.second.id
    )

    assert [letter.event_id for letter in replayed] == [setup.second.id]
    # Back on its source topic after the three originals: for GROUP only, first failure kept.
    records = await consume(await bus.transport("ops-reader"), "ops-reader", [setup.topic], 4)
    [again] = [r for r in records if "linli-replayed-from" in r.headers]
    assert again.value == setup.second.to_json()
    assert again.headers["linli-replay-for-group"] == GROUP.encode()
    assert again.headers["linli-first-failed-at"] == before.first_failed_at.encode()
    assert again.headers["linli-replayed-from"] == before.where.encode()
    assert not any(name.startswith("linli-dlq-") for name in again.headers)
    # The full replay's progress did not move: the two others (and this one) are still pending.
    pending = await operations.read_dead_letters([setup.dead_letter_topic], only_unreplayed=True)
    assert len(pending) == 3
    assert await operations.replay_dead_letters([setup.dead_letter_topic], event_id="no-such") == []


def _registered() -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id=uuid.uuid4(),
        community_id="dongcheng-01",
        grid_id="grid-01",
        address="幸福路 2 号",
        members=[MemberV1(name="李雷", relation="head")],
        contact_email="li.lei@example.cn",
        registered_at=datetime.now(UTC),
    )
