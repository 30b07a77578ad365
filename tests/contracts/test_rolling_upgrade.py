"""A rolling upgrade dead-letters no good event: every released contract version is read by
today's consumers, and today's events by the previous release's consumers.

Events travel as CloudEvents built with the SDK, as any producer of that release would write
them. "Today's consumers" are the pydantic contracts and each service's real handlers through
the record processor; "the previous release's consumers" read with the released JSON Schema as
a tolerant reader does (unknown properties ignored). The released snapshots are never edited.
"""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v1.event import CloudEvent

from conftest import MigratedDatabase
from linli.services import SERVICES
from linli_shared.contracts import CATALOGUE
from linli_shared.contracts.base import EventData
from linli_shared.contracts.registry import HouseholdRegistered
from linli_shared.contracts.released import event_schema, load_release, releases
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope, UnknownValue
from linli_shared.messaging.inbox import Inbox
from linli_shared.messaging.processing import Outcome, RecordProcessor, RetryPolicy
from linli_shared.messaging.records import IncomingRecord, OutgoingRecord
from tests.support.contract_examples import UNKNOWN_FIELD, example, with_unknown_fields

RELEASED = [
    (version, event_type, released)
    for version in releases()
    for event_type, released in sorted(load_release(version)["event_types"].items())
]
PREVIOUS = releases()[-1]
# Today's types the previous release knows (its consumers skip or dead-letter the others, as
# for any type they do not know: docs/events.md, "Tolerant readers").
KNOWN_BEFORE = sorted(
    (model for model in CATALOGUE if model.event_type in load_release(PREVIOUS)["event_types"]),
    key=lambda model: model.event_type,
)


def _cloudevent(event_type: str, key: str, data: dict[str, Any]) -> bytes:
    """A structured-mode Kafka record value, written with the CloudEvents SDK."""
    event = CloudEvent(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "type": event_type,
            "source": "/linli/an-older-release",
            "subject": key,
            "time": datetime(2026, 3, 1, tzinfo=UTC),
            "datacontenttype": "application/json",
            "partitionkey": key,
            "correlationid": "rolling-upgrade",
        },
        data,
    )
    return ce_kafka.to_structured_event(event).value


@pytest.mark.parametrize("minimal", [False, True], ids=["every-field", "required-only"])
@pytest.mark.parametrize(
    ("version", "event_type", "released"), RELEASED, ids=[f"{v}:{t}" for v, t, _ in RELEASED]
)
def test_an_event_of_every_released_version_is_read_by_todays_contracts(
    version: str, event_type: str, released: dict[str, Any], minimal: bool
) -> None:
    data = with_unknown_fields(example(released["schema"], minimal))
    value = _cloudevent(event_type, str(data[released["key_field"]]), data)

    event = Envelope.from_json(value).parse(CATALOGUE)

    assert event.event_type == event_type
    assert UNKNOWN_FIELD not in event.model_dump()
    assert event.partition_key() == str(data[released["key_field"]])


def _tolerant(schema: Any) -> Any:
    """The released schema as a tolerant reader applies it: unknown properties are ignored."""
    if isinstance(schema, dict):
        return {
            key: _tolerant(value)
            for key, value in schema.items()
            if not (key == "additionalProperties" and value is False)
        }
    if isinstance(schema, list):
        return [_tolerant(value) for value in schema]
    return schema


@pytest.mark.parametrize("minimal", [False, True], ids=["every-field", "required-only"])
@pytest.mark.parametrize("model", KNOWN_BEFORE, ids=[model.event_type for model in KNOWN_BEFORE])
def test_todays_events_are_read_by_the_previous_releases_consumers(
    model: type[EventData], minimal: bool
) -> None:
    released = load_release(PREVIOUS)["event_types"][model.event_type]
    event = model.model_validate(example(event_schema(model), minimal))
    wire = Envelope.from_json(_cloudevent(model.event_type, event.partition_key(), _json(event)))

    reader = jsonschema.Draft202012Validator(
        _tolerant(released["schema"]), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    refusals = list(reader.iter_errors(wire.data))

    # The one refusal the rules allow on an internal type: a value added to an enum. By the
    # tolerant-reader rule that event is dead-lettered as `unknown-value` and replayed once the
    # consumer runs the new release; partner-readable types may not widen an enum at all.
    assert all(refusal.validator == "enum" for refusal in refusals), [
        refusal.message for refusal in refusals
    ]
    if refusals:
        assert not released["partner_readable"], [refusal.message for refusal in refusals]


def _json(event: EventData) -> dict[str, Any]:
    return event.model_dump(mode="json")


def test_the_released_schema_as_written_refuses_todays_household_registered() -> None:
    """Why the previous release's schema is read tolerantly: as written it refuses today's
    events, although the change (an optional `resident_id` on members) is additive."""
    released = load_release(PREVIOUS)["event_types"][HouseholdRegistered.event_type]
    event = HouseholdRegistered.model_validate(example(event_schema(HouseholdRegistered)))
    strict = jsonschema.Draft202012Validator(released["schema"])
    assert not strict.is_valid(_json(event))
    assert jsonschema.Draft202012Validator(_tolerant(released["schema"])).is_valid(_json(event))


class _DeadLetters:
    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []

    async def send(self, records: Sequence[OutgoingRecord]) -> None:
        self.records.extend(records)


async def test_released_events_with_unknown_fields_are_applied_by_todays_handlers(
    migrated_database: MigratedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through each service's real subscriptions and the record processor, as a worker runs
    them: an event of the previous release, with fields a later one added, is applied."""
    released = load_release(PREVIOUS)["event_types"]
    outcomes: dict[str, Outcome] = {}
    dead_letters = _DeadLetters()
    for name, definition in SERVICES.items():
        url = await migrated_database(definition)
        monkeypatch.setenv(f"LINLI_{name.upper()}_DATABASE_URL", url)
        worker = definition.create_worker()
        database = Database(url)
        inbox = Inbox(importlib.import_module(f"linli_{name}.adapters.tables").inbox)
        try:
            for subscription in worker.subscriptions:
                processor = RecordProcessor(
                    subscription,
                    database,
                    inbox,
                    CATALOGUE,
                    dead_letters,
                    RetryPolicy(max_attempts=1, initial_backoff=0.01, max_backoff=0.01),
                    asyncio.Event(),
                )
                for offset, model in enumerate(subscription.handlers):
                    if model.event_type not in released:
                        continue
                    contract = released[model.event_type]
                    data = with_unknown_fields(example(contract["schema"]))
                    key = str(data[contract["key_field"]])
                    record = IncomingRecord(
                        model.topic,
                        0,
                        offset,
                        key.encode(),
                        _cloudevent(model.event_type, key, data),
                    )
                    outcomes[f"{subscription.group} {model.event_type}"] = await processor.process(
                        record
                    )
        finally:
            await database.dispose()
    assert outcomes, "no subscription handles a released event type"
    reasons = [
        (r.headers["linli-dlq-consumer-group"], r.headers["linli-dlq-error"])
        for r in dead_letters.records
    ]
    assert reasons == []
    assert set(outcomes.values()) == {Outcome.APPLIED}, outcomes


def test_an_unknown_value_in_a_field_that_decides_is_refused_with_a_clear_reason() -> None:
    model = CATALOGUE.model_for("linli.inspections.inspection.failed.v1")
    assert model is not None
    data = example(event_schema(model))
    data["failed_findings"][0]["severity"] = "catastrophic"
    envelope = Envelope.from_json(_cloudevent(model.event_type, "k", data))
    with pytest.raises(UnknownValue, match=r"failed_findings\.0\.severity='catastrophic'"):
        envelope.parse(CATALOGUE)


def test_an_unknown_channel_in_a_list_of_channels_is_dropped() -> None:
    data = example(event_schema(HouseholdRegistered))
    data["consent"]["notice_channels"] = ["wechat", "sms"]
    data["contact"]["preferred_channels"] = ["wechat"]
    envelope = Envelope.from_json(_cloudevent(HouseholdRegistered.event_type, "k", data))
    event = envelope.parse(CATALOGUE)
    assert isinstance(event, HouseholdRegistered)
    assert event.consent is not None and event.consent.notice_channels == ["sms"]
    assert event.contact is not None and event.contact.preferred_channels == []
