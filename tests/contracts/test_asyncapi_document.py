"""The committed AsyncAPI document is what the code generates, and it is valid AsyncAPI 3.0."""

from __future__ import annotations

import copy
import hashlib
import json
from functools import cache
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from conftest import REPO
from linli.cli import app
from linli.services import SERVICES
from linli_shared.asyncapi import message_id
from linli_shared.contracts import CATALOGUE, topics
from linli_shared.contracts.released import event_schema
from tests.support.npm import npm_package

DOCUMENT = REPO / "docs" / "asyncapi.yaml"
# The official AsyncAPI 3.0.0 JSON Schema, from the npm package @asyncapi/specs (Apache-2.0),
# fetched once into ~/.cache/linli/npm; pinned by version and by the file's SHA-256.
ASYNCAPI_SPECS = ("@asyncapi/specs", "6.11.1")
META_SCHEMA = "schemas/3.0.0-without-$id.json"
META_SCHEMA_SHA256 = "abe96881dbfaad495ccbb6bd8d3fb43ca18a13b9d7564849ccb66f39d5e5b20f"


@cache
def generated_text() -> str:
    result = CliRunner().invoke(app, ["asyncapi"])
    assert result.exit_code == 0, result.output
    return result.output


def generated() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(generated_text())
    return document


@cache
def validator() -> jsonschema.Draft7Validator:
    raw = (npm_package(*ASYNCAPI_SPECS) / META_SCHEMA).read_bytes()
    assert hashlib.sha256(raw).hexdigest() == META_SCHEMA_SHA256, "the meta-schema changed"
    return jsonschema.Draft7Validator(json.loads(raw))


def errors(document: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message[:200]}"
        for error in validator().iter_errors(document)
    ]


def test_committed_document_matches_the_code() -> None:
    committed = DOCUMENT.read_text(encoding="utf-8")
    assert committed == generated_text(), (
        "docs/asyncapi.yaml is out of date with the event contracts; regenerate it with "
        "`uv run linli asyncapi -o docs/asyncapi.yaml`"
    )


def test_document_is_valid_asyncapi_3() -> None:
    assert errors(generated()) == []


@pytest.mark.parametrize(
    "spoil",
    [
        lambda d: d.pop("info"),
        lambda d: d["operations"][next(iter(d["operations"]))].update(action="publish"),
        lambda d: d["channels"][topics.CREDIT]["bindings"]["kafka"].update(partitions="six"),
        lambda d: d["components"]["messages"][next(iter(d["components"]["messages"]))].update(
            contentType=7
        ),
    ],
    ids=["no-info", "v2-action", "bad-binding", "bad-message"],
)
def test_the_meta_schema_rejects_broken_documents(spoil: Any) -> None:
    document = copy.deepcopy(generated())
    spoil(document)
    assert errors(document) != []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    target: Any = document
    for part in ref[2:].split("/"):
        assert isinstance(target, dict) and part in target, f"unresolved reference {ref}"
        target = target[part]
    return target


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_every_reference_resolves() -> None:
    document = generated()
    for ref in _refs(document):
        _resolve(document, ref)


def test_every_event_type_is_a_message_on_its_topic_with_its_schema() -> None:
    document = generated()
    messages = document["components"]["messages"]
    assert set(messages) == {model.event_type for model in CATALOGUE}
    for model in CATALOGUE:
        channel = document["channels"][model.topic]
        assert channel["address"] == model.topic
        assert message_id(model) in channel["messages"]
        message = messages[message_id(model)]
        payload = message["payload"]["allOf"][1]["properties"]
        assert payload["type"]["const"] == model.event_type
        data = _resolve(document, payload["data"]["$ref"])
        expected = event_schema(model)
        assert set(data["properties"]) == set(expected["properties"])
        assert set(data.get("required", [])) == set(expected.get("required", []))
        assert message["bindings"]["kafka"]["key"]["description"].startswith(
            f"`data.{model.key_field}`"
        )


def test_consumer_groups_are_receive_operations_with_their_types() -> None:
    document = generated()
    operations = document["operations"]
    for name, definition in SERVICES.items():
        for subscription in definition.create_worker().subscriptions:
            for topic in subscription.topics:
                operation = operations[f"{subscription.group}.receive.{topic}"]
                assert operation["action"] == "receive"
                assert operation["bindings"]["kafka"]["groupId"]["enum"] == [subscription.group]
                received = {ref["$ref"].rsplit("/", 1)[1] for ref in operation["messages"]}
                handled = {m.event_type for m in subscription.handlers if m.topic == topic}
                assert received == handled, (name, topic)


def test_partner_topics_are_channels_with_only_partner_readable_events() -> None:
    document = generated()
    for topic in topics.PARTNER_TOPICS:
        assert topic.startswith(topics.PARTNER_PREFIX)
        channel = document["channels"][topic]
        for ref in channel["messages"].values():
            message = _resolve(document, ref["$ref"])
            assert {"name": "partner-readable"} in message["tags"]
        assert f"partner.receive.{topic}" in document["operations"]
    for model in CATALOGUE:
        if model.topic in topics.PARTNER_TOPICS:
            assert model.partner_readable, f"{model.event_type} on a partner topic"
