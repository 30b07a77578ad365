"""Reach: which grids, and which parties' own records, a caller may see and act on.

Grid workers and inspectors reach only the grids named in their token. Property managers and
shops reach only their organisation's own records (the cases it answers for, the notices sent to
it, its compounds and segments); a resident only their own and their household's. Every other
role reaches every grid. Outside a caller's reach an object reads as absent (404, so its
existence does not leak) and lists leave it out; a write naming something in another grid is
refused (403).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from linli_shared.auth import GRID_BOUND_ROLES, ORGANISATION_ROLES, RESIDENT_ROLES, Principal
from linli_shared.errors import ProblemError


@dataclass(frozen=True)
class Reach:
    """The grids a caller reaches (`grids=None`: every grid, and so everything), and besides
    them the parties (households, residents, organisations) whose own records it reaches."""

    grids: frozenset[str] | None = None
    parties: frozenset[uuid.UUID] = frozenset()

    def covers(self, grid_id: str | None, *parties: uuid.UUID | None) -> bool:
        """Whether something in `grid_id`, of (or sent to, or about) `parties`, is reached."""
        if self.grids is None or (grid_id is not None and grid_id in self.grids):
            return True
        return any(party is not None and party in self.parties for party in parties)


EVERYWHERE = Reach()


def reach_of(principal: Principal, household_id: uuid.UUID | None = None) -> Reach:
    """What the principal reaches as it acts on a permission (`Principal.acting_under`): the
    union of what its granting roles reach. `household_id`: the household the registry has the
    principal's resident in, as the service knows it (reached only through the resident role)."""
    if not principal.bound:
        return EVERYWHERE
    roles = principal.roles
    grids = frozenset(principal.grids) if roles & GRID_BOUND_ROLES else frozenset()
    parties: set[uuid.UUID] = set()
    if roles & ORGANISATION_ROLES and principal.organisation_id is not None:
        parties.add(principal.organisation_id)
    if roles & RESIDENT_ROLES and principal.resident_id is not None:
        parties.add(principal.resident_id)
        if household_id is not None:
            parties.add(household_id)
    return Reach(grids, frozenset(parties))


class OutsideGrids(ProblemError):
    """A write names something in a grid the caller does not reach (or in no known grid)."""

    def __init__(self, field: str, grid_id: str | None) -> None:
        super().__init__(
            403,
            "outside-grids",
            "Outside your grids",
            f"{field}: grid {grid_id} is outside the grids this token is for"
            if grid_id
            else f"{field}: not known to be in a grid of this token (registered just now? the "
            "registry's event may still be on its way: retry shortly)",
        )
        self.field = field


def require_grid(principal: Principal, grid_id: str | None, field: str = "grid_id") -> None:
    """A write naming `grid_id` (registering into it, moving to it) must be within reach."""
    if not reach_of(principal).covers(grid_id):
        raise OutsideGrids(field, grid_id)
