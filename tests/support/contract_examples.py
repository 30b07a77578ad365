"""Events written as a JSON Schema describes them: what a producer of that schema may send.

Deterministic, so a replay test names the event it failed on: `example(schema)` sets every
field (optional ones too), `example(schema, minimal=True)` only the required ones; enums take
their first value, or their last when minimal, so both ends of each enum travel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from linli_shared.contracts.released import Schema

UNKNOWN_FIELD = "added_by_a_later_release"
_FORMATS = {
    "uuid": "4b0c7f8e-2f1d-4a53-9c6e-0d6f1a2b3c4d",
    "date-time": "2026-03-01T08:30:00+08:00",
    "date": "2026-03-01",
    "email": "household@example.org",
}


def example(schema: Schema, minimal: bool = False) -> dict[str, Any]:
    value = _value(schema, schema, minimal)
    assert isinstance(value, dict), schema
    return value


def with_unknown_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` as a later release might write it: with a field (and a nested one) added."""
    return {**data, UNKNOWN_FIELD: {"nested": [1, "two"], UNKNOWN_FIELD: None}}


def _resolve(schema: Schema, root: Schema) -> Schema:
    while "$ref" in schema:
        target: Any = root
        for part in str(schema["$ref"]).removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def _value(schema: Schema, root: Schema, minimal: bool) -> Any:
    schema = _resolve(schema, root)
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            branches = [_resolve(b, root) for b in schema[keyword]]
            concrete = [b for b in branches if b.get("type") != "null"] or branches
            return _value(concrete[-1 if minimal else 0], root, minimal)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][-1 if minimal else 0]
    kind = schema.get("type")
    if kind == "object":
        required = set(schema.get("required", ()))
        return {
            name: _value(prop, root, minimal)
            for name, prop in schema.get("properties", {}).items()
            if name in required or not minimal
        }
    if kind == "array":
        return [] if minimal else [_value(schema.get("items", {}), root, minimal)]
    if kind == "string":
        return _FORMATS.get(str(schema.get("format")), "text")
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1.5))
    if kind == "boolean":
        return not minimal
    return "any"
