"""Grid reach: which grids a caller may see and act in.

Grid workers and inspectors reach only the grids named in their token; every other role reaches
every grid. Outside a caller's reach an object reads as absent (404, so its existence does not
leak) and lists leave it out; a write naming something in another grid is refused (403).
"""

from __future__ import annotations

from dataclasses import dataclass

from linli_shared.auth import Principal
from linli_shared.errors import ProblemError


@dataclass(frozen=True)
class Reach:
    """The grids a caller reaches; `grids=None` means every grid."""

    grids: frozenset[str] | None = None

    def covers(self, grid_id: str | None) -> bool:
        return self.grids is None or (grid_id is not None and grid_id in self.grids)


EVERYWHERE = Reach()


def reach_of(principal: Principal) -> Reach:
    return Reach(frozenset(principal.grids)) if principal.grid_bound else EVERYWHERE


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
