"""Households and their members: pure rules, no I/O.

A household is versioned: every change (move, members, contact, consent, deregistration) returns
a new value with the next version; the service stores it only if nobody wrote in between.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum

from linli_registry.domain.personal import birth_date_of, validate_id_number, validate_phone
from linli_shared.rules import RuleViolation

HEAD = "head"
CHANNELS = ("email", "sms", "inbox")


class InvalidHousehold(RuleViolation):
    """A household that breaks a registry rule."""


class HouseholdClosed(Exception):
    """A change to a household that is no longer registered."""


class Status(StrEnum):
    ACTIVE = "active"
    DEREGISTERED = "deregistered"


@dataclass(frozen=True)
class Member:
    name: str
    relation: str
    birth_date: date | None = None
    id_number: str | None = None
    phone: str | None = None
    # The resident's stable id: kept across member changes and moves (None until assigned).
    resident_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Contact:
    email: str | None = None
    phone: str | None = None
    preferred_channels: tuple[str, ...] = ("email",)


@dataclass(frozen=True)
class Consent:
    """What the household agreed to; nothing until someone records it."""

    integrity_scoring: bool = False
    notice_channels: tuple[str, ...] = ("email",)
    recorded_by: str | None = None
    recorded_at: datetime | None = None


@dataclass(frozen=True)
class Household:
    id: uuid.UUID
    community_id: str
    grid_id: str
    address: str
    members: tuple[Member, ...]
    contact_email: str
    registered_at: datetime
    version: int = 1
    compound_id: str | None = None
    building_id: str | None = None
    contact_phone: str | None = None
    preferred_channels: tuple[str, ...] = ("email",)
    consent: Consent = field(default_factory=Consent)
    status: Status = Status.ACTIVE
    deregistered_at: datetime | None = None
    deregistration_reason: str | None = None

    @property
    def head(self) -> Member:
        return next(member for member in self.members if member.relation == HEAD)

    @property
    def contact(self) -> Contact:
        return Contact(self.contact_email, self.contact_phone, self.preferred_channels)

    @property
    def address_key(self) -> str:
        return address_key(self.address)

    def _next(self, **changes: object) -> Household:
        if self.status is Status.DEREGISTERED:
            raise HouseholdClosed(f"household {self.id} is deregistered")
        return replace(self, version=self.version + 1, **changes)  # type: ignore[arg-type]


def address_key(address: str) -> str:
    """The address as duplicate detection compares it: width, case and spaces ignored."""
    normalised = unicodedata.normalize("NFKC", address).casefold()
    return "".join(character for character in normalised if not character.isspace())


def _checked_members(members: list[Member], current: tuple[Member, ...] = ()) -> tuple[Member, ...]:
    if not members:
        raise InvalidHousehold("members", "a household has at least one member")
    heads = [member for member in members if member.relation == HEAD]
    if len(heads) != 1:
        raise InvalidHousehold(
            "members", "a household has exactly one member whose relation is 'head'"
        )
    checked = []
    seen_ids: set[str] = set()
    for i, member in enumerate(members):
        if not member.name.strip():
            raise InvalidHousehold(f"members.{i}.name", "a member has a name")
        id_number = (
            validate_id_number(member.id_number, f"members.{i}.id_number")
            if member.id_number is not None
            else None
        )
        if id_number is not None:
            if id_number in seen_ids:
                raise InvalidHousehold(
                    f"members.{i}.id_number", "two members cannot share an ID number"
                )
            seen_ids.add(id_number)
            if member.birth_date is not None and member.birth_date != birth_date_of(id_number):
                raise InvalidHousehold(
                    f"members.{i}.birth_date", "the birth date differs from the ID number's"
                )
        phone = (
            validate_phone(member.phone, f"members.{i}.phone") if member.phone is not None else None
        )
        birth_date = member.birth_date or (birth_date_of(id_number) if id_number else None)
        checked.append(Member(member.name.strip(), member.relation, birth_date, id_number, phone))
    return _kept_residents(members, tuple(checked), current)


def _kept_residents(
    given: list[Member], checked: tuple[Member, ...], current: tuple[Member, ...]
) -> tuple[Member, ...]:
    """Members who stay keep their resident id: the one sent back, or the one of the current
    member with the same ID number. Others get theirs from the service (None here)."""
    known = {m.resident_id for m in current if m.resident_id is not None}
    by_id_number = {m.id_number: m.resident_id for m in current if m.id_number}
    kept: list[Member] = []
    for i, (member, sent) in enumerate(zip(checked, given, strict=True)):
        resident_id = sent.resident_id
        if resident_id is not None and resident_id not in known:
            raise InvalidHousehold(
                f"members.{i}.resident_id",
                "not a resident of this household: omit it for a new one",
            )
        if resident_id is None and member.id_number is not None:
            resident_id = by_id_number.get(member.id_number)
        if resident_id is not None and resident_id in {m.resident_id for m in kept}:
            raise InvalidHousehold(f"members.{i}.resident_id", "two members cannot be one resident")
        kept.append(replace(member, resident_id=resident_id))
    return tuple(kept)


def with_resident_ids(household: Household, resident_ids: list[uuid.UUID]) -> Household:
    """The household with ids for its members that had none, in order, from the service."""
    fresh = iter(resident_ids)
    return replace(
        household,
        members=tuple(
            m if m.resident_id is not None else replace(m, resident_id=next(fresh))
            for m in household.members
        ),
    )


def _checked_address(address: str) -> str:
    if not address.strip():
        raise InvalidHousehold("address", "address must not be blank")
    return address.strip()


def _checked_channels(channels: tuple[str, ...] | list[str], field_name: str) -> tuple[str, ...]:
    unknown = [channel for channel in channels if channel not in CHANNELS]
    if unknown:
        raise InvalidHousehold(field_name, f"unknown channels: {', '.join(unknown)}")
    return tuple(dict.fromkeys(channels))


def _checked_contact(contact: Contact) -> Contact:
    phone = validate_phone(contact.phone, "contact.phone") if contact.phone is not None else None
    channels = _checked_channels(contact.preferred_channels, "contact.preferred_channels")
    if "sms" in channels and phone is None:
        raise InvalidHousehold("contact.phone", "notices by SMS need a mobile number")
    if "email" in channels and not contact.email:
        raise InvalidHousehold("contact.email", "notices by e-mail need an address")
    return Contact(contact.email, phone, channels)


def register(
    *,
    community_id: str,
    grid_id: str,
    address: str,
    members: list[Member],
    contact_email: str,
    now: datetime,
    compound_id: str | None = None,
    building_id: str | None = None,
    contact_phone: str | None = None,
    preferred_channels: tuple[str, ...] = ("email",),
    consent: Consent | None = None,
) -> Household:
    """A new household: it must have members, and exactly one of them is its head."""
    checked_members = _checked_members(members)
    checked_address = _checked_address(address)
    if building_id is not None and compound_id is None:
        raise InvalidHousehold("building_id", "a building is named within its compound")
    contact = _checked_contact(Contact(contact_email, contact_phone, preferred_channels))
    return Household(
        id=uuid.uuid4(),
        community_id=community_id,
        grid_id=grid_id,
        address=checked_address,
        members=checked_members,
        contact_email=contact_email,
        registered_at=now,
        compound_id=compound_id,
        building_id=building_id,
        contact_phone=contact.phone,
        preferred_channels=contact.preferred_channels,
        consent=_checked_consent(consent) if consent is not None else Consent(),
    )


def _checked_consent(consent: Consent) -> Consent:
    return replace(
        consent, notice_channels=_checked_channels(consent.notice_channels, "notice_channels")
    )


def move(
    household: Household,
    *,
    grid_id: str,
    address: str,
    compound_id: str | None,
    building_id: str | None,
) -> Household:
    if building_id is not None and compound_id is None:
        raise InvalidHousehold("building_id", "a building is named within its compound")
    checked = _checked_address(address)
    if (grid_id, checked, compound_id, building_id) == (
        household.grid_id,
        household.address,
        household.compound_id,
        household.building_id,
    ):
        raise InvalidHousehold("address", "the household already lives there")
    return household._next(
        grid_id=grid_id, address=checked, compound_id=compound_id, building_id=building_id
    )


def change_members(household: Household, members: list[Member]) -> Household:
    return household._next(members=_checked_members(members, household.members))


def change_contact(household: Household, contact: Contact) -> Household:
    if not contact.email:
        raise InvalidHousehold("contact.email", "a household keeps a contact e-mail")
    checked = _checked_contact(contact)
    return household._next(
        contact_email=checked.email,
        contact_phone=checked.phone,
        preferred_channels=checked.preferred_channels,
    )


def change_consent(
    household: Household,
    *,
    integrity_scoring: bool,
    notice_channels: list[str],
    recorded_by: str,
    now: datetime,
) -> Household:
    consent = Consent(
        integrity_scoring=integrity_scoring,
        notice_channels=_checked_channels(notice_channels, "notice_channels"),
        recorded_by=recorded_by,
        recorded_at=now,
    )
    return household._next(consent=consent)


def deregister(household: Household, *, reason: str, now: datetime) -> Household:
    if not reason.strip():
        raise InvalidHousehold("reason", "a deregistration gives its reason")
    return household._next(
        status=Status.DEREGISTERED, deregistered_at=now, deregistration_reason=reason.strip()
    )
