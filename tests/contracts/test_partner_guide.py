"""docs/events.md matches the code: its catalogue, and its example consumer really validates."""

from __future__ import annotations

import json
import re
from types import ModuleType
from typing import Any

import pytest

from conftest import REPO
from linli_shared.asyncapi import producer_of
from linli_shared.contracts import CATALOGUE, topics

GUIDE = REPO / "docs" / "events.md"
ASYNCAPI = REPO / "docs" / "asyncapi.yaml"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.DOTALL)


def test_catalogue_table_lists_every_event_type_as_the_code_says() -> None:
    rows = {
        line
        for line in GUIDE.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `linli.") and line.count("|") == 6
    }
    expected = {
        f"| `{m.event_type}` | `{m.topic}` | `{m.key_field}` | {producer_of(m)} | "
        f"{'yes' if m.partner_readable else 'no'} |"
        for m in CATALOGUE
    }
    assert sorted(expected - rows) == [], "add to the catalogue in docs/events.md"
    assert sorted(rows - expected) == [], "not (or no longer) so in the code"


@pytest.fixture(scope="module")
def example() -> ModuleType:
    (source,) = [block for block in blocks("python") if "def validate(" in block]
    module = ModuleType("linli_partner_example")
    exec(compile(source, str(GUIDE), "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def validators(example: ModuleType) -> Any:
    return example.load_validators(ASYNCAPI)


def examples() -> list[dict[str, Any]]:
    return [json.loads(block) for block in blocks("json")]


def test_the_ordering_promise_names_the_keys_each_partner_topic_is_keyed_by() -> None:
    """A partner relies on order per key: the guide must say which key, as the code does."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text.split("## Ordering and delivery guarantees", 1)[1].split("\n## ", 1)[0]
    for topic in topics.PARTNER_TOPICS:
        (promise,) = [p for p in section.split("\n  - ") if p.startswith(f"`{topic}`:")]
        said = set(re.findall(r"keyed\s+by\s+(?:its\s+)?`(\w+)`|by\s+its\s+`(\w+)`", promise))
        named = {key for pair in said for key in pair if key}
        keys = {m.key_field for m in CATALOGUE if m.topic == topic}
        assert named == keys, f"{topic}: the guide promises order per {named}, code keys {keys}"


def test_every_event_type_has_a_validator(validators: Any) -> None:
    assert set(validators) == {model.event_type for model in CATALOGUE}


def test_the_guide_examples_are_valid(example: ModuleType, validators: Any) -> None:
    assert len(examples()) >= 2
    for event in examples():
        assert example.validate(json.dumps(event).encode(), validators)["id"] == event["id"]


def test_unknown_fields_are_tolerated(example: ModuleType, validators: Any) -> None:
    event = examples()[0]
    event["data"]["added_later"] = "a field this reader does not know"
    example.validate(json.dumps(event).encode(), validators)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda e: e.pop("subject"),
        lambda e: e.update(specversion="0.3"),
        lambda e: e["data"].update(subject_id=42),
        lambda e: e["data"].pop(next(iter(e["data"]))),
        lambda e: e.update(source="/somewhere/else"),
    ],
    ids=["no-subject", "old-spec", "wrong-type", "missing-field", "wrong-source"],
)
def test_invalid_events_are_rejected(example: ModuleType, validators: Any, spoil: Any) -> None:
    event = examples()[0]
    spoil(event)
    with pytest.raises(ValueError):
        example.validate(json.dumps(event).encode(), validators)


def test_unknown_types_are_reported_as_such(example: ModuleType, validators: Any) -> None:
    event = {**examples()[0], "type": "linli.inspections.inspection.teleported.v1"}
    with pytest.raises(LookupError):
        example.validate(json.dumps(event).encode(), validators)
