"""Events published by the registry on `linli.registry.v1`.

This topic carries personal data (names, contacts, addresses) and is never readable by partners.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr

from linli_shared.contracts import topics
from linli_shared.contracts.base import EventData


class MemberV1(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    relation: str


class HouseholdRegistered(EventData):
    event_type: ClassVar[str] = "linli.registry.household.registered.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "household_id"

    household_id: UUID
    community_id: str
    grid_id: str
    address: str
    members: list[MemberV1]
    contact_email: EmailStr
    registered_at: datetime
