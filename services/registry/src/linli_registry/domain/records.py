"""What the registry's records answer besides households themselves: a search's criteria, a
possible duplicate, an entry of a household's history. Plain values, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from linli_registry.domain.household import Status


@dataclass(frozen=True)
class HouseholdFilter:
    community_id: str | None = None
    grid_id: str | None = None
    compound_id: str | None = None
    name: str | None = None
    address: str | None = None
    # A member's whole ID number (matched on its blind index), or its last four characters.
    id_number: str | None = None
    id_tail: str | None = None
    status: Status | None = Status.ACTIVE
    # The caller's grids (grid workers and inspectors); None: every grid. With grids, also the
    # households among `household_ids` (a resident's own).
    grid_ids: frozenset[str] | None = None
    household_ids: frozenset[uuid.UUID] = frozenset()


@dataclass(frozen=True)
class DuplicateCandidate:
    """An active household a new or changed one may duplicate, and why (`id_number`,
    `address`)."""

    household_id: uuid.UUID
    reasons: tuple[str, ...]
    grid_id: str


@dataclass(frozen=True)
class HistoryEntry:
    """One version of a household: what changed, who changed it, when, and a summary of the
    state without ID numbers or phones."""

    version: int
    change: str
    changed_at: datetime
    changed_by: str
    summary: dict[str, Any]
