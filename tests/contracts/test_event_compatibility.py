"""Event schemas stay compatible with their last release unless the type's version changes."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import pytest
from pydantic import create_model

from linli_shared.contracts import CATALOGUE, InspectionFailed, ScoreChanged
from linli_shared.contracts.base import EventCatalogue, EventData
from linli_shared.contracts.released import (
    breaking_changes,
    event_schema,
    incompatibilities,
    load_release,
    releases,
    snapshot,
)


def obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or []}


STRING = {"type": "string"}
OPTIONAL_STRING = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
BASE = obj({"id": STRING, "kind": {"enum": ["a", "b"]}, "note": OPTIONAL_STRING}, ["id", "kind"])


def test_the_contracts_are_compatible_with_the_latest_release() -> None:
    known = releases()
    assert known, "no released snapshot in linli_shared/contracts/released/"
    problems = incompatibilities(load_release(known[-1]), CATALOGUE)
    assert problems == [], (
        "breaking changes to released event types; publish a new type with a new version "
        "suffix (…v2) instead of editing the released one"
    )


def test_an_unchanged_schema_has_no_breaking_change() -> None:
    assert breaking_changes(BASE, BASE) == []
    assert breaking_changes(BASE, BASE, full=True) == []


KIND = {"enum": ["a", "b"]}
BREAKING = {
    "field-removed": (obj({"kind": KIND, "note": OPTIONAL_STRING}, ["kind"]), "removed"),
    "type-changed": (obj({"id": {"type": "integer"}, "kind": KIND}, ["id", "kind"]), "type"),
    "optional-required": (
        obj({"id": STRING, "kind": KIND, "note": STRING}, ["id", "kind", "note"]),
        "made required",
    ),
    "enum-narrowed": (
        obj({"id": STRING, "kind": {"enum": ["a"]}, "note": OPTIONAL_STRING}, ["id", "kind"]),
        "narrowed",
    ),
    "required-added": (
        obj({**BASE["properties"], "x": STRING}, ["id", "kind", "x"]),
        "required field added",
    ),
    "format-added": (
        obj({"id": {"type": "string", "format": "uuid"}, "kind": KIND}, ["id", "kind"]),
        "format",
    ),
    "bound-tightened": (
        obj({"id": {"type": "string", "maxLength": 5}, "kind": KIND}, ["id", "kind"]),
        "maxLength",
    ),
}


@pytest.mark.parametrize(("new", "expected"), BREAKING.values(), ids=BREAKING.keys())
def test_breaking_changes_are_caught(new: dict[str, Any], expected: str) -> None:
    problems = breaking_changes(BASE, new)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    "new",
    [
        obj(
            {**BASE["properties"], "extra": {"type": "integer", "default": 0}},
            ["id", "kind"],
        ),
        obj({**BASE["properties"], "kind": {"enum": ["a", "b", "c"]}}, ["id", "kind"]),
        obj({**BASE["properties"], "id": {"anyOf": [STRING, {"type": "null"}]}}, ["id", "kind"]),
        obj({**BASE["properties"]}, ["kind"]),
    ],
    ids=["optional-added", "enum-widened", "nullable", "required-relaxed"],
)
def test_backward_compatible_changes_pass_for_internal_events(new: dict[str, Any]) -> None:
    assert breaking_changes(BASE, new) == []


NULLABLE_ID = {"anyOf": [STRING, {"type": "null"}]}
NOT_FULLY_COMPATIBLE = {
    "enum-widened": (
        obj({**BASE["properties"], "kind": {"enum": ["a", "b", "c"]}}, ["id", "kind"]),
        "widened",
    ),
    "nullable": (obj({**BASE["properties"], "id": NULLABLE_ID}, ["id", "kind"]), "widened"),
    "required-relaxed": (obj({**BASE["properties"]}, ["kind"]), "made optional"),
    "added-without-default": (
        obj({**BASE["properties"], "extra": {"type": "integer"}}, ["id", "kind"]),
        "without a default",
    ),
}


@pytest.mark.parametrize(
    ("new", "expected"), NOT_FULLY_COMPATIBLE.values(), ids=NOT_FULLY_COMPATIBLE.keys()
)
def test_partner_readable_events_need_full_compatibility(
    new: dict[str, Any], expected: str
) -> None:
    assert breaking_changes(BASE, new) == []
    problems = breaking_changes(BASE, new, full=True)
    assert any(expected in problem for problem in problems), problems


def test_an_optional_field_with_a_default_is_fine_for_partners_too() -> None:
    new = obj({**BASE["properties"], "extra": {"type": "integer", "default": 0}}, ["id", "kind"])
    assert breaking_changes(BASE, new, full=True) == []


def test_nested_models_and_lists_are_compared_through_references() -> None:
    old = event_schema(InspectionFailed)
    new = {**old, "$defs": {**old["$defs"]}}
    finding = new["$defs"]["FailedFindingV1"]
    new["$defs"]["FailedFindingV1"] = {
        **finding,
        "properties": {k: v for k, v in finding["properties"].items() if k != "note"},
    }
    problems = breaking_changes(old, new)
    assert problems == ["data.failed_findings[].note: field removed"]


class _Renamed(EventData):
    event_type: ClassVar[str] = ScoreChanged.event_type
    topic: ClassVar[str] = ScoreChanged.topic
    key_field: ClassVar[str] = "subject_id"


def _catalogue_with(model: type[EventData]) -> EventCatalogue:
    return EventCatalogue([m for m in CATALOGUE if m.event_type != model.event_type] + [model])


def test_editing_a_released_model_in_place_fails_but_a_new_version_passes() -> None:
    release = snapshot(CATALOGUE)
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in ScoreChanged.model_fields.items()
        if name != "policy_version"
    }
    fields["points"] = (str, ...)
    edited = create_model("ScoreChanged", __base__=_Renamed, **fields)
    problems = incompatibilities(release, _catalogue_with(edited))
    assert "linli.credit.score.changed.v1: data.policy_version: field removed" in problems
    assert any("data.points: type changed" in p for p in problems)

    class ScoreChangedV2(EventData):
        event_type: ClassVar[str] = "linli.credit.score.changed.v2"
        topic: ClassVar[str] = ScoreChanged.topic
        key_field: ClassVar[str] = "subject_id"
        subject_id: str
        outcome: Literal["up", "down"]

    both = EventCatalogue([*CATALOGUE, ScoreChangedV2])
    assert incompatibilities(release, both) == []


def test_a_released_type_may_not_disappear_or_move() -> None:
    release = snapshot(CATALOGUE)
    without = EventCatalogue([m for m in CATALOGUE if m is not ScoreChanged])
    assert incompatibilities(release, without) == [
        "linli.credit.score.changed.v1: released type removed from the catalogue"
    ]
    moved = {**release, "event_types": {**release["event_types"]}}
    moved["event_types"][ScoreChanged.event_type] = {
        **release["event_types"][ScoreChanged.event_type],
        "key_field": "entry_id",
    }
    assert any("key field" in p for p in incompatibilities(moved, CATALOGUE))
