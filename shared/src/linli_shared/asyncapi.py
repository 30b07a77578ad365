"""The AsyncAPI 3.0 document of Linli's events, generated from the event contracts.

Channels are Kafka topics; messages are CloudEvents types (structured JSON mode), each with the
JSON Schema of its pydantic model as `data`; Kafka bindings name the record key and the consumer
groups. The document is committed (`docs/asyncapi.yaml`) and a test regenerates it, so it never
drifts from the code. Nothing here knows the services: the caller passes their consumer groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from pydantic.json_schema import models_json_schema

from linli_shared.contracts import topics
from linli_shared.contracts.base import EventCatalogue, EventData
from linli_shared.messaging.envelope import CONTENT_TYPE, dataschema_for

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
SCHEMA_REF = "#/components/schemas/{model}"
ENVELOPE = "CloudEvent"
# Partner agencies name their consumer groups after their Kafka user (see deploy/k8s).
PARTNER_GROUP_PATTERN = r"^linli-partner-[a-z0-9-]+-[a-z0-9.-]+$"

_PERSONAL_TOPICS = {topics.REGISTRY}


@dataclass(frozen=True)
class ConsumerGroup:
    """A consumer group of a service, and the event types it applies."""

    service: str
    group: str
    event_types: tuple[str, ...]
    topics: tuple[str, ...]


def consumer_group(service: str, group: str, models: Iterable[type[EventData]]) -> ConsumerGroup:
    handled = sorted(models, key=lambda model: model.event_type)
    return ConsumerGroup(
        service=service,
        group=group,
        event_types=tuple(model.event_type for model in handled),
        topics=tuple(sorted({model.topic for model in handled})),
    )


def producer_of(model: type[EventData]) -> str:
    """The service that publishes an event type: `linli.<service>.<entity>.<happened>.vN`."""
    return model.event_type.split(".")[1]


def message_id(model: type[EventData]) -> str:
    return model.event_type


def asyncapi_document(
    catalogue: EventCatalogue,
    groups: Sequence[ConsumerGroup],
    *,
    partner_topics: Sequence[str] = topics.PARTNER_TOPICS,
    version: str | None = None,
) -> dict[str, Any]:
    """The whole document as plain data (dicts and lists, deterministic order)."""
    models = sorted(catalogue, key=lambda model: model.event_type)
    by_topic: dict[str, list[type[EventData]]] = {}
    for model in models:
        by_topic.setdefault(model.topic, []).append(model)
    for group in groups:
        for topic in group.topics:
            by_topic.setdefault(topic, [])
    for topic in partner_topics:
        by_topic.setdefault(topic, [])

    schemas = _data_schemas(models)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:linli:events",
        "info": {
            "title": "Linli events",
            "version": version or _linli_version(),
            "description": (
                "Every event Linli publishes on Kafka, generated from the event contracts "
                "(`linli_shared.contracts`). Each Kafka record is one CloudEvent 1.0 in structured "
                "JSON mode; the record key is the CloudEvent `subject`, the id of what the event "
                "is about (each message's key binding names the field: a household or "
                "organisation on the internal streams, an inspection, a rectification case or a "
                "credit subject on the partner channels), so events with one key are in order on "
                "one partition; there is no order between keys or between topics. "
                "Dead letters of consumer group G on topic T go to `T.dlq.G`. Partner agencies "
                "read only the `linli.partner.*` channels, which carry no personal data."
            ),
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "kafka": {
                "host": "{bootstrap}",
                "protocol": "kafka-secure",
                "description": (
                    "The city's Kafka cluster (Strimzi). Clients authenticate with "
                    "SCRAM-SHA-512 over TLS as the Kafka user they were given."
                ),
                "variables": {
                    "bootstrap": {
                        "default": "linli-kafka-bootstrap.kafka.svc:9093",
                        "description": "host:port of the TLS listener",
                    }
                },
                "security": [{"$ref": "#/components/securitySchemes/scramSha512"}],
            }
        },
        "channels": {
            topic: _channel(topic, by_topic[topic], partner_topics) for topic in sorted(by_topic)
        },
        "operations": _operations(by_topic, groups, partner_topics),
        "components": {
            "schemas": {ENVELOPE: _envelope_schema(), **schemas},
            "messages": {message_id(model): _message(model) for model in models},
            "securitySchemes": {
                "scramSha512": {
                    "type": "scramSha512",
                    "description": "SASL SCRAM-SHA-512; the Kafka user's password is in its "
                    "Kubernetes Secret (Strimzi KafkaUser).",
                }
            },
        },
    }


def render(document: Mapping[str, Any]) -> str:
    """YAML with a header; stable, so a regenerated document compares equal to the committed."""
    import yaml  # PyYAML comes with the `linli` command (uvicorn[standard]), not linli-shared

    header = (
        "# Generated from the event contracts by `linli asyncapi`; do not edit by hand.\n"
        "# tests/contracts checks that this file matches the code.\n"
    )
    body = yaml.safe_dump(
        dict(document), sort_keys=False, allow_unicode=True, width=100, default_flow_style=False
    )
    return header + body


def _linli_version() -> str:
    try:
        return package_version("linli-shared")
    except PackageNotFoundError:  # pragma: no cover - only outside an installed workspace
        return "0.0.0"


def _data_schemas(models: Sequence[type[EventData]]) -> dict[str, Any]:
    _, top = models_json_schema(
        [(model, "serialization") for model in models], ref_template=SCHEMA_REF
    )
    definitions: dict[str, Any] = top.get("$defs", {})
    return dict(sorted(definitions.items()))


def _envelope_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "A CloudEvent 1.0 (structured JSON mode) as Linli writes it.",
        "required": [
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "time",
            "datacontenttype",
            "dataschema",
            "partitionkey",
            "correlationid",
            "data",
        ],
        "properties": {
            "specversion": {"type": "string", "const": "1.0"},
            "id": {
                "type": "string",
                "format": "uuid",
                "description": "Unique per event; a redelivered event keeps its id.",
            },
            "source": {"type": "string", "description": "`/linli/<service>`"},
            "type": {"type": "string", "description": "`linli.<service>.<entity>.<happened>.vN`"},
            "subject": {
                "type": "string",
                "description": "What the event is about (the message's key field); equals "
                "the Kafka record key and `partitionkey`.",
            },
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"type": "string", "const": "application/json"},
            "dataschema": {"type": "string", "description": "`urn:linli:schema:<type>`"},
            "partitionkey": {"type": "string", "description": "The Kafka record key."},
            "correlationid": {
                "type": "string",
                "description": "Shared by every event of one story (one request and what "
                "followed from it).",
            },
            "causationid": {
                "type": "string",
                "description": "The id of the event whose handling emitted this one.",
            },
            "traceparent": {"type": "string", "description": "W3C trace context."},
            "data": {"type": "object"},
        },
    }


def _message(model: type[EventData]) -> dict[str, Any]:
    service = producer_of(model)
    doc = (model.__doc__ or "").strip()
    summary = doc.splitlines()[0] if doc and not doc.startswith("The `data` of") else ""
    message: dict[str, Any] = {
        "name": model.__name__,
        "title": model.event_type,
        "contentType": "application/cloudevents+json",
        "headers": {
            "type": "object",
            "properties": {"content-type": {"type": "string", "const": CONTENT_TYPE}},
        },
        "payload": {
            "allOf": [
                {"$ref": f"#/components/schemas/{ENVELOPE}"},
                {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "const": model.event_type},
                        "source": {"type": "string", "const": f"/linli/{service}"},
                        "dataschema": {"type": "string", "const": dataschema_for(model.event_type)},
                        "data": {"$ref": SCHEMA_REF.format(model=model.__name__)},
                    },
                },
            ]
        },
        "correlationId": {"location": "$message.payload#/correlationid"},
        "bindings": {
            "kafka": {
                "key": _key_schema(model),
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
        "tags": [{"name": service}]
        + ([{"name": "partner-readable"}] if model.partner_readable else []),
    }
    if summary:
        message["summary"] = summary
    return message


def _key_schema(model: type[EventData]) -> dict[str, Any]:
    """The record key: the key field's value as a string (its JSON Schema format, if any)."""
    field = model.model_json_schema(mode="serialization")["properties"][model.key_field]
    schema: dict[str, Any] = {"type": "string"}
    if "format" in field:
        schema["format"] = field["format"]
    schema["description"] = f"`data.{model.key_field}` (also the CloudEvent `subject`)"
    return schema


def _channel(
    topic: str, models: Sequence[type[EventData]], partner_topics: Sequence[str]
) -> dict[str, Any]:
    if topic in partner_topics:
        description = (
            "Partner topic: no personal data. Readable by partner agencies' Kafka users."
            + ("" if models else " No event is published here yet.")
        )
    elif topic in _PERSONAL_TOPICS:
        description = "Carries personal data; never readable by partner agencies."
    else:
        description = "Internal stream of the producing service; not readable by partners."
    keys = sorted({f"`{model.key_field}`" for model in models})
    if keys:
        description += (
            f" Record key: {', '.join(keys)} (each message names its own); events with the same "
            "key are in order, events with different keys are not."
        )
    return {
        "address": topic,
        "description": description,
        "messages": {
            message_id(model): {"$ref": f"#/components/messages/{message_id(model)}"}
            for model in models
        },
        "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING_VERSION}},
    }


def _message_refs(topic: str, models: Iterable[type[EventData]]) -> list[dict[str, str]]:
    return [{"$ref": f"#/channels/{topic}/messages/{message_id(model)}"} for model in models]


def _operations(
    by_topic: Mapping[str, Sequence[type[EventData]]],
    groups: Sequence[ConsumerGroup],
    partner_topics: Sequence[str],
) -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for topic in sorted(by_topic):
        models = by_topic[topic]
        for service in sorted({producer_of(model) for model in models}):
            operations[f"{service}.publish.{topic}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{topic}"},
                "summary": f"{service} publishes through its transactional outbox.",
                "messages": _message_refs(
                    topic, [model for model in models if producer_of(model) == service]
                ),
            }
    for group in sorted(groups, key=lambda g: g.group):
        for topic in group.topics:
            handled = [model for model in by_topic[topic] if model.event_type in group.event_types]
            operations[f"{group.group}.receive.{topic}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{topic}"},
                "summary": f"{group.service} applies these events (other types are skipped).",
                "messages": _message_refs(topic, handled),
                "bindings": {
                    "kafka": {
                        "groupId": {"type": "string", "enum": [group.group]},
                        "bindingVersion": KAFKA_BINDING_VERSION,
                    }
                },
            }
    for topic in sorted(partner_topics):
        operations[f"partner.receive.{topic}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{topic}"},
            "summary": "A partner agency reads the partner topic with a group of its own.",
            "messages": _message_refs(topic, by_topic[topic]),
            "bindings": {
                "kafka": {
                    "groupId": {"type": "string", "pattern": PARTNER_GROUP_PATTERN},
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
        }
    return operations
