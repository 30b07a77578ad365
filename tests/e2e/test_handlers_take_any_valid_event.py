"""No event that its published schema allows can crash a handler.

Per service, every event type it consumes is generated from its JSON schema (the one the AsyncAPI
document publishes) by schemathesis's JSON Schema generator on hypothesis (hypothesis-jsonschema
does not run on this hypothesis), with strategies for the schema's formats. Edge cases included
(unknown subjects, huge numbers, empty strings, NUL characters, dates far ahead or long ago,
timestamps without an offset), each goes through the real consumer path: the worker's record
processor with the service's handler registry on a real PostgreSQL database. Each must be applied
(or recognised as a duplicate), or dead-lettered as malformed or about an unknown subject; a
handler that fails is a finding,
and so is one that makes the processor wait forever.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.generation.jsonschema.builder import build

from conftest import MigratedDatabase
from linli.services import SERVICES
from linli_shared.contracts.base import EventData
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.processing import Outcome
from linli_shared.messaging.records import IncomingRecord, OutgoingRecord

EXAMPLES_PER_TYPE = 40
# A bound, not a timing assertion: a processor waiting on a "fault" that never clears hangs.
EVENT_BOUND_SECONDS = 60.0


# What the published schema's formats allow: any offset (RFC 3339 requires one), any year; and,
# now and then, a timestamp without an offset, which a lax reader would take (it must not).
OFFSETS = st.integers(min_value=-18 * 60 + 1, max_value=18 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
FORMATS = {
    "date-time": st.one_of(
        st.datetimes(timezones=st.one_of(st.just(UTC), OFFSETS)),
        st.datetimes(),
    ).map(datetime.isoformat),
    "date": st.dates().map(lambda day: day.isoformat()),
    "uuid": st.uuids().map(str),
    "email": st.emails(),
}


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    return build(schema, draft=jsonschema_rs.Draft202012, formats=FORMATS)


class DeadLetters:
    """The dead-letter sink, kept in memory: the bus is not what is under test here."""

    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []

    async def send(self, records: Sequence[OutgoingRecord]) -> None:
        self.records.extend(records)


def examples(model: type[EventData], count: int) -> list[dict[str, Any]]:
    """`count` distinct data objects valid under the model's published schema."""
    found: list[dict[str, Any]] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,  # the same examples on every run: a finding is reproducible
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(from_schema(model.model_json_schema(mode="validation")))
    def collect(data: dict[str, Any]) -> None:
        found.append(data)

    collect()
    return found


def record_of(model: type[EventData], data: dict[str, Any]) -> IncomingRecord:
    subject = str(data.get(model.key_field) or "unknown-subject")
    envelope = Envelope(
        id=str(uuid.uuid4()),
        type=model.event_type,
        source="/property-test",
        subject=subject,
        time=datetime.now(UTC),
        data=data,
        correlation_id=f"corr-{uuid.uuid4().hex[:8]}",
    )
    return IncomingRecord(
        topic=model.topic,
        partition=0,
        offset=0,
        key=subject.encode(),
        value=envelope.to_json(),
        headers={},
    )


@pytest.fixture
def registry_without_keys() -> Iterator[str]:
    """A registry's API that holds no subject key (404 for every id): notify's worker, given
    random sealed values, learns their subjects are unknown (a registry away would make it wait,
    as it must, for good)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"type":"https://linli.dev/problems/not-found","status":404}'
            self.send_response(404)
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("service", ["registry", "inspections", "credit", "notify"])
async def test_every_schema_valid_event_is_applied_or_dead_lettered_as_malformed(
    service: str,
    migrated_database: MigratedDatabase,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    registry_without_keys: str,
) -> None:
    definition = SERVICES[service]
    monkeypatch.setenv(f"LINLI_{service.upper()}_DATABASE_URL", await migrated_database(definition))
    # The worker's bus is never started; its dead letters go to the sink below.
    monkeypatch.setenv("LINLI_TRANSPORT", "embedded")
    monkeypatch.setenv("LINLI_EMBEDDED_LOG_PATH", str(tmp_path / "events.db"))
    monkeypatch.setenv("LINLI_CONSUMER_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("LINLI_CONSUMER_INITIAL_BACKOFF_SECONDS", "0.01")
    monkeypatch.setenv("LINLI_CONSUMER_MAX_BACKOFF_SECONDS", "0.05")
    # Random subjects are unknown to the service: dead-letter them at once instead of waiting.
    monkeypatch.setenv("LINLI_CONSUMER_UNKNOWN_SUBJECT_WAIT_SECONDS", "0")
    monkeypatch.setenv("LINLI_NOTIFY_REGISTRY_URL", registry_without_keys)
    monkeypatch.setenv("LINLI_NOTIFY_REGISTRY_TOKEN", "a-key-reader-token")
    worker = definition.create_worker()
    findings: list[str] = []
    try:
        for subscription in worker.subscriptions:
            dead_letters = DeadLetters()
            processor = worker.processor(subscription, dead_letters)
            for model in subscription.handlers:
                accepted = 0
                for data in examples(model, EXAMPLES_PER_TYPE):
                    record = record_of(model, data)
                    dead_letters.records.clear()
                    try:
                        outcome = await asyncio.wait_for(
                            processor.process(record), EVENT_BOUND_SECONDS
                        )
                    except TimeoutError:
                        findings.append(f"{model.event_type}: the processor hung on {data!r}")
                        continue
                    if outcome is Outcome.APPLIED:
                        accepted += 1
                    elif outcome is Outcome.DEAD_LETTERED:
                        [letter] = dead_letters.records
                        reason = letter.headers["linli-dlq-reason"].decode()
                        if reason == "unknown-subject":
                            accepted += 1  # the model took it; the handler knows no such subject
                        elif reason != "malformed":
                            error = letter.headers["linli-dlq-error"].decode()
                            findings.append(f"{model.event_type}: {error} on {data!r}")
                    else:
                        assert outcome is Outcome.DUPLICATE, (model.event_type, outcome)
                # The schema and the model agree: what the schema allows, the model accepts.
                assert accepted > 0, f"{subscription.group}: no {model.event_type} was accepted"
    finally:
        await worker.dispose()
    assert not findings, "\n".join(findings)
