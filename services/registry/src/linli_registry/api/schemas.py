from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from linli_registry.domain.household import Household


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    relation: str = Field(min_length=1, max_length=50, examples=["head", "spouse", "child"])


class HouseholdIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    community_id: str = Field(min_length=1, max_length=64)
    grid_id: str = Field(min_length=1, max_length=64)
    address: str = Field(min_length=1, max_length=500)
    members: list[MemberIn] = Field(min_length=1, max_length=50)
    contact_email: EmailStr


class MemberOut(BaseModel):
    name: str
    relation: str


class HouseholdOut(BaseModel):
    id: uuid.UUID
    community_id: str
    grid_id: str
    address: str
    members: list[MemberOut]
    contact_email: str
    registered_at: datetime
    version: int

    @classmethod
    def of(cls, household: Household) -> HouseholdOut:
        return cls(
            id=household.id,
            community_id=household.community_id,
            grid_id=household.grid_id,
            address=household.address,
            members=[MemberOut(name=m.name, relation=m.relation) for m in household.members],
            contact_email=household.contact_email,
            registered_at=household.registered_at,
            version=household.version,
        )
