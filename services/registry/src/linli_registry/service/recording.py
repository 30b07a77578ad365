"""The one path that records a household, shared by its registration and its versioned changes:
its residents identified, its place checked, a possible duplicate refused (naming only what the
caller reaches), the version kept in its history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_registry.adapters.repository import HouseholdRepository, PlaceRepository
from linli_registry.domain import household as rules
from linli_registry.domain.household import Household
from linli_registry.domain.records import DuplicateCandidate
from linli_shared.errors import ProblemError
from linli_shared.reach import EVERYWHERE, Reach
from linli_shared.rules import RuleViolation

SYSTEM = "system"


class PossibleDuplicate(ProblemError):
    """Registering (or changing) would make a second record of an existing household.

    Only candidates within the caller's reach are named, with their reasons; of the others the
    caller learns that one exists and whom to ask, nothing more (no id, no grid, no reason), so
    the check is no window into grids the caller does not reach.
    """

    def __init__(self, candidates: list[DuplicateCandidate], reach: Reach) -> None:
        self.candidates = [c for c in candidates if reach.covers(c.grid_id)]
        self.elsewhere = len(self.candidates) < len(candidates)
        parts = []
        if self.candidates:
            described = "; ".join(
                f"{c.household_id} (same {' and '.join(c.reasons)})" for c in self.candidates
            )
            parts.append(f"an active household matches: {described}")
        if self.elsewhere:
            parts.append(
                "a possible duplicate exists outside your grids: ask community staff to check it"
            )
        super().__init__(
            409,
            "possible-duplicate",
            "Possible duplicate household",
            "; ".join(parts)
            + "; resend with allow_duplicate=true if this is really another household",
        )


async def identified(
    repository: HouseholdRepository, household: Household, reach: Reach
) -> Household:
    """Give new members their resident id: the one the registry already knows for their ID
    number (a resident who moves between households stays one resident), else a new one.
    A resident known only outside the caller's grids gets a new id: reusing it would link
    the caller's record to one it may not see (community staff, who reach every grid, keep
    one resident across grids)."""
    taken = {m.resident_id for m in household.members if m.resident_id is not None}
    fresh: list[uuid.UUID] = []
    for member in household.members:
        if member.resident_id is not None:
            continue
        known = (
            await repository.resident_with_id_number(member.id_number) if member.id_number else None
        )
        resident_id = (
            known[0]
            if known is not None and known[0] not in taken and reach.covers(known[1])
            else uuid.uuid4()
        )
        taken.add(resident_id)
        fresh.append(resident_id)
    return rules.with_resident_ids(household, fresh) if fresh else household


async def check_place(
    connection: AsyncConnection,
    community_id: str,
    compound_id: str | None,
    building_id: str | None,
    reach: Reach = EVERYWHERE,
) -> None:
    """A compound outside the caller's reach reads as unknown, as it does everywhere."""
    repository = PlaceRepository(connection)
    if compound_id is not None:
        compound = await repository.compound(compound_id)
        if compound is None or not reach.covers(compound.grid_id):
            raise RuleViolation("compound_id", f"unknown compound {compound_id}")
        if compound.community_id != community_id:
            raise RuleViolation("compound_id", f"compound {compound_id} is not in this community")
    if building_id is not None:
        building = await repository.building(building_id)
        if building is None or building.compound_id != compound_id:
            raise RuleViolation("building_id", f"no building {building_id} in the compound")


async def keep_version(
    repository: HouseholdRepository,
    household: Household,
    change: str,
    changed_by: str,
    now: datetime,
) -> None:
    """Add the household's version to its history."""
    await repository.add_history(household, change, changed_by, summary(household), now)


def summary(household: Household) -> dict[str, Any]:
    """What a history entry keeps: the state without ID numbers or phones."""
    return {
        "status": household.status.value,
        "grid_id": household.grid_id,
        "compound_id": household.compound_id,
        "building_id": household.building_id,
        "address": household.address,
        "members": [
            {"name": m.name, "relation": m.relation, "resident_id": str(m.resident_id)}
            for m in household.members
        ],
        "preferred_channels": list(household.preferred_channels),
        "consent": {
            "integrity_scoring": household.consent.integrity_scoring,
            "notice_channels": list(household.consent.notice_channels),
            "recorded_by": household.consent.recorded_by,
        },
        "deregistration_reason": household.deregistration_reason,
    }
