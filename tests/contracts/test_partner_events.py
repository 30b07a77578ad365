"""Partner-readable event models cannot carry personal data: no field for it, at any depth."""

from __future__ import annotations

import re
from typing import Any

from linli_shared.contracts import CATALOGUE, topics

# Field names that would hold a name, an ID number, a phone, an e-mail, an address, a birth
# date or free text (which may quote any of them).
PERSONAL = re.compile(
    r"name|id_number|id_no|identity|phone|mobile|mail|address|street|contact|birth|note|comment"
    r"|member|resident|label|text",
    re.IGNORECASE,
)


def _property_names(schema: dict[str, Any], definitions: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for key, value in schema.get("properties", {}).items():
        names.add(key)
        names |= _nested(value, definitions)
    return names


def _nested(schema: Any, definitions: dict[str, Any]) -> set[str]:
    if isinstance(schema, list):
        return {n for item in schema for n in _nested(item, definitions)}
    if not isinstance(schema, dict):
        return set()
    if "$ref" in schema:
        return _property_names(definitions[schema["$ref"].rsplit("/", 1)[-1]], definitions)
    names: set[str] = set()
    for key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties"):
        if key in schema:
            names |= _nested(schema[key], definitions)
    return names | _property_names(schema, definitions)


def test_partner_models_have_no_field_for_personal_data() -> None:
    partner = [m for m in CATALOGUE if m.partner_readable]
    assert {m.topic for m in partner} >= {topics.PARTNER_INSPECTIONS}
    for model in partner:
        schema = model.model_json_schema()
        fields = _property_names(schema, schema.get("$defs", {}))
        assert fields, model.event_type
        leaking = sorted(f for f in fields if PERSONAL.search(f))
        assert leaking == [], f"{model.event_type} has personal-data fields {leaking}"
        assert "subject_id" not in fields or model.topic != topics.PARTNER_INSPECTIONS


def test_the_check_catches_a_personal_field() -> None:
    schema: dict[str, Any] = {
        "properties": {"findings": {"items": {"$ref": "#/$defs/F"}}},
        "$defs": {"F": {"properties": {"inspector_note": {"type": "string"}}}},
    }
    fields = _property_names(schema, schema["$defs"])
    assert any(PERSONAL.search(f) for f in fields)
