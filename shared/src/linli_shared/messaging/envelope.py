"""The CloudEvents 1.0 envelope (structured JSON mode, Kafka protocol binding).

Serialisation goes through the CloudEvents SDK so what we put on the wire is what any conformant
consumer expects. Extensions: `partitionkey` (the Kafka record key: household or organisation
id), `correlationid`, `causationid` and `traceparent` (W3C trace context).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import ValidationError

from linli_shared.context import EventContext, correlation_id_from, is_safe_id
from linli_shared.contracts.base import EventCatalogue, EventData

CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
_FORMAT = JSONFormat()


class MalformedEvent(Exception):
    """The record is not a valid Linli CloudEvent (bad JSON, missing attributes, bad data)."""


class UnknownEventType(MalformedEvent):
    """The record is a CloudEvent whose type no contract describes."""


class UnknownValue(MalformedEvent):
    """The event's data has a value this reader does not know in a field that decides what the
    reader does (a severity, an outcome): dead-lettered, to be replayed once the consumer knows
    it (docs/events.md, "Tolerant readers")."""


_UNKNOWN_VALUE_ERRORS = frozenset({"enum", "literal_error"})


def dataschema_for(event_type: str) -> str:
    return f"urn:linli:schema:{event_type}"


@dataclass(frozen=True)
class Envelope:
    id: str
    type: str
    source: str
    subject: str
    time: datetime
    data: dict[str, Any]
    correlation_id: str
    causation_id: str | None = None
    traceparent: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def partition_key(self) -> str:
        return self.subject

    @classmethod
    def wrap(
        cls,
        event: EventData,
        *,
        source: str,
        context: EventContext,
        traceparent: str | None = None,
        now: datetime | None = None,
    ) -> Envelope:
        return cls(
            id=str(uuid.uuid4()),
            type=event.event_type,
            source=source,
            subject=event.partition_key(),
            time=now or datetime.now(UTC),
            data=event.model_dump(mode="json"),
            correlation_id=context.correlation_id,
            causation_id=context.causation_id,
            traceparent=traceparent,
        )

    def to_cloudevent(self) -> CloudEvent:
        attributes: dict[str, Any] = {
            "specversion": "1.0",
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "time": self.time,
            "datacontenttype": "application/json",
            "dataschema": dataschema_for(self.type),
            "partitionkey": self.subject,
            "correlationid": self.correlation_id,
        }
        if self.causation_id:
            attributes["causationid"] = self.causation_id
        if self.traceparent:
            attributes["traceparent"] = self.traceparent
        return CloudEvent(attributes, self.data)

    def to_json(self) -> bytes:
        return ce_kafka.to_structured_event(self.to_cloudevent()).value

    def to_kafka(self) -> ce_kafka.KafkaMessage:
        return ce_kafka.to_structured_event(self.to_cloudevent())

    @classmethod
    def from_json(cls, raw: bytes) -> Envelope:
        try:
            event = _FORMAT.read(None, raw)
        except (ValueError, TypeError, KeyError, AttributeError, BaseCloudEventException) as error:
            raise MalformedEvent(f"not a CloudEvent: {error}") from error
        attributes = event.get_attributes()
        data = event.get_data()
        if not isinstance(data, dict):
            raise MalformedEvent("CloudEvent data must be a JSON object")
        subject = attributes.get("subject") or attributes.get("partitionkey")
        correlation_id = attributes.get("correlationid")
        if not subject:
            raise MalformedEvent("CloudEvent has no subject")
        if not correlation_id:
            raise MalformedEvent("CloudEvent has no correlationid extension")
        known = {
            "specversion",
            "id",
            "type",
            "source",
            "subject",
            "time",
            "datacontenttype",
            "dataschema",
            "partitionkey",
            "correlationid",
            "causationid",
            "traceparent",
        }
        causation = attributes.get("causationid")
        return cls(
            id=str(attributes["id"]),
            type=str(attributes["type"]),
            source=str(attributes["source"]),
            subject=str(subject),
            time=attributes.get("time") or datetime.now(UTC),
            data=data,
            # Ids from the wire are kept only if safe to store and log (linli_shared.context).
            correlation_id=correlation_id_from(correlation_id),
            causation_id=causation if is_safe_id(causation) else None,
            traceparent=attributes.get("traceparent"),
            extra={k: v for k, v in attributes.items() if k not in known},
        )

    def parse(self, catalogue: EventCatalogue) -> EventData:
        """The typed contract inside; raises MalformedEvent on an unknown type or bad data."""
        model = catalogue.model_for(self.type)
        if model is None:
            raise UnknownEventType(f"unknown event type {self.type!r}")
        try:
            return model.model_validate(self.data)
        except ValidationError as error:
            problems = error.errors(include_url=False)
            if problems and all(p["type"] in _UNKNOWN_VALUE_ERRORS for p in problems):
                raise UnknownValue(
                    f"{self.type}: unknown value "
                    + "; ".join(
                        f"{'.'.join(str(part) for part in p['loc'])}={p['input']!r} "
                        f"(known: {p.get('ctx', {}).get('expected', '?')})"
                        for p in problems
                    )
                ) from error
            raise MalformedEvent(f"{self.type}: {error}") from error
