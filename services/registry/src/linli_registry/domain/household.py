"""Households and their members: pure rules, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from linli_shared.rules import RuleViolation

HEAD = "head"


class InvalidHousehold(RuleViolation):
    """A household that breaks a registry rule."""


@dataclass(frozen=True)
class Member:
    name: str
    relation: str


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

    @property
    def head(self) -> Member:
        return next(member for member in self.members if member.relation == HEAD)


def register(
    *,
    community_id: str,
    grid_id: str,
    address: str,
    members: list[Member],
    contact_email: str,
    now: datetime,
) -> Household:
    """A new household: it must have members, and exactly one of them is its head."""
    if not members:
        raise InvalidHousehold("members", "a household has at least one member")
    heads = [member for member in members if member.relation == HEAD]
    if len(heads) != 1:
        raise InvalidHousehold(
            "members", "a household has exactly one member whose relation is 'head'"
        )
    if not address.strip():
        raise InvalidHousehold("address", "address must not be blank")
    return Household(
        id=uuid.uuid4(),
        community_id=community_id,
        grid_id=grid_id,
        address=address.strip(),
        members=tuple(members),
        contact_email=contact_email,
        registered_at=now,
    )
