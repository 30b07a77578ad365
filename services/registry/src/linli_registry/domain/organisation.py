"""Organisations: property managers of compounds, shops and units with a frontage duty."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from linli_registry.domain.household import Contact, _checked_contact
from linli_shared.rules import RuleViolation


class OrganisationKind(StrEnum):
    PROPERTY_MANAGER = "property_manager"
    SHOP = "shop"
    UNIT = "unit"


@dataclass(frozen=True)
class Organisation:
    id: uuid.UUID
    kind: OrganisationKind
    name: str
    community_id: str
    grid_id: str | None
    compound_ids: tuple[str, ...]
    frontage_segments: tuple[str, ...]
    contact: Contact
    registered_at: datetime
    version: int = 1


def _checked(
    kind: OrganisationKind,
    name: str,
    compound_ids: list[str],
    frontage_segments: list[str],
    contact: Contact,
) -> tuple[str, tuple[str, ...], tuple[str, ...], Contact]:
    if not name.strip():
        raise RuleViolation("name", "an organisation has a name")
    if compound_ids and kind is not OrganisationKind.PROPERTY_MANAGER:
        raise RuleViolation("compound_ids", "only a property manager manages compounds")
    if frontage_segments and kind is OrganisationKind.PROPERTY_MANAGER:
        raise RuleViolation(
            "frontage_segments", "frontage duty belongs to shops and units, not property managers"
        )
    if len(set(compound_ids)) != len(compound_ids):
        raise RuleViolation("compound_ids", "each compound is named once")
    if len(set(frontage_segments)) != len(frontage_segments):
        raise RuleViolation("frontage_segments", "each segment is named once")
    if not contact.email and not contact.phone:
        raise RuleViolation("contact", "an organisation can be reached by e-mail or phone")
    checked_contact = _checked_contact(contact)
    return (
        name.strip(),
        tuple(sorted(compound_ids)),
        tuple(sorted(frontage_segments)),
        checked_contact,
    )


def register(
    *,
    kind: OrganisationKind,
    name: str,
    community_id: str,
    grid_id: str | None,
    compound_ids: list[str],
    frontage_segments: list[str],
    contact: Contact,
    now: datetime,
) -> Organisation:
    checked_name, compounds, segments, checked_contact = _checked(
        kind, name, compound_ids, frontage_segments, contact
    )
    return Organisation(
        id=uuid.uuid4(),
        kind=kind,
        name=checked_name,
        community_id=community_id,
        grid_id=grid_id,
        compound_ids=compounds,
        frontage_segments=segments,
        contact=checked_contact,
        registered_at=now,
    )


def change(
    organisation: Organisation,
    *,
    name: str,
    grid_id: str | None,
    compound_ids: list[str],
    frontage_segments: list[str],
    contact: Contact,
) -> Organisation:
    checked_name, compounds, segments, checked_contact = _checked(
        organisation.kind, name, compound_ids, frontage_segments, contact
    )
    return replace(
        organisation,
        name=checked_name,
        grid_id=grid_id,
        compound_ids=compounds,
        frontage_segments=segments,
        contact=checked_contact,
        version=organisation.version + 1,
    )


def release(organisation: Organisation, *, compounds: set[str], segments: set[str]) -> Organisation:
    """The organisation after another one took over some of its compounds or segments."""
    return replace(
        organisation,
        compound_ids=tuple(c for c in organisation.compound_ids if c not in compounds),
        frontage_segments=tuple(s for s in organisation.frontage_segments if s not in segments),
        version=organisation.version + 1,
    )
