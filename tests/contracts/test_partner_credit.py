"""The partner credit events carry no personal data, by construction of their models."""

from __future__ import annotations

from typing import Any

import pytest

from linli_shared.contracts import CATALOGUE, topics
from linli_shared.contracts.base import EventData
from linli_shared.contracts.partner_credit import PARTNER_CREDIT_EVENTS
from linli_shared.contracts.released import event_schema

# Names of fields that would carry personal data (as fragments of a field name).
PERSONAL = ("name", "id_number", "idcard", "phone", "mobile", "email", "mail", "address", "contact")
PERSONAL_FORMATS = ("email", "idn-email")


def _properties(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every property of the schema and of its nested definitions, by name."""
    found: dict[str, dict[str, Any]] = dict(schema.get("properties", {}))
    for definition in schema.get("$defs", {}).values():
        found.update(definition.get("properties", {}))
    return found


@pytest.mark.parametrize("model", PARTNER_CREDIT_EVENTS, ids=lambda m: m.event_type)
def test_partner_credit_events_carry_no_personal_fields(model: type[EventData]) -> None:
    properties = _properties(event_schema(model))
    assert {"subject_id", "subject_kind", "community_id"} <= set(properties)
    for field in properties:
        assert not any(part in field.lower() for part in PERSONAL), f"{model.__name__}.{field}"
    for field, spec in properties.items():
        formats = {spec.get("format")} | {b.get("format") for b in spec.get("anyOf", [])}
        assert not formats & set(PERSONAL_FORMATS), f"{model.__name__}.{field}"


@pytest.mark.parametrize("model", PARTNER_CREDIT_EVENTS, ids=lambda m: m.event_type)
def test_partner_credit_events_travel_only_on_the_partner_credit_topic(
    model: type[EventData],
) -> None:
    assert model.partner_readable
    assert model.topic == topics.PARTNER_CREDIT
    assert model.key_field == "subject_id"
    assert CATALOGUE.model_for(model.event_type) is model


def test_the_check_catches_a_personal_field() -> None:
    class Leaky(PARTNER_CREDIT_EVENTS[0]):  # type: ignore[misc,valid-type]
        holder_name: str

    names = _properties(event_schema(Leaky))
    assert any(part in "holder_name" for part in PERSONAL) and "holder_name" in names
