"""A household of two for the registry's privacy tests (erasure, access): a head, and a spouse
with an ID number and a phone."""

from __future__ import annotations

import uuid

from linli_registry.domain.household import HEAD, Household, Member
from linli_registry.service import UseCases

NAME, SPOUSE_NAME = "王小明", "李秀英"
SPOUSE_ID_NUMBER, SPOUSE_PHONE = "11010519491231002X", "13912345678"
ADDRESS = "幸福路 8 号 3 单元 502"


async def register_family(registry: UseCases) -> Household:
    return await registry.registration.register_household(
        community_id="c-xingfu",
        grid_id="g-07",
        address=ADDRESS,
        members=[
            Member(NAME, HEAD),
            Member(SPOUSE_NAME, "spouse", id_number=SPOUSE_ID_NUMBER, phone=SPOUSE_PHONE),
        ],
        contact_email="wang@example.com",
        contact_phone="13800001111",
        preferred_channels=("email", "sms"),
    )


def spouse_of(household: Household) -> uuid.UUID:
    resident = next(m.resident_id for m in household.members if m.name == SPOUSE_NAME)
    assert resident is not None
    return resident
