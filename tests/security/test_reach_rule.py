"""The reach rule for several roles, as a table: a call reaches what the roles granting its
route reach, never more (docs/security.md, "Reach with several roles")."""

from __future__ import annotations

import pytest

from linli_shared.auth import Principal
from linli_shared.reach import EVERYWHERE, Reach, reach_of

OURS = frozenset({"g-ours"})


@pytest.mark.parametrize(
    ("roles", "granted_to", "reach"),
    [
        ({"grid_worker", "partner"}, ("grid_worker",), Reach(OURS)),
        ({"grid_worker", "partner"}, ("grid_worker", "partner"), EVERYWHERE),
        ({"grid_worker", "service"}, ("grid_worker", "community_staff"), Reach(OURS)),
        ({"grid_worker", "inspector"}, ("grid_worker", "inspector"), Reach(OURS)),
        ({"grid_worker", "community_staff"}, ("grid_worker", "community_staff"), EVERYWHERE),
        ({"grid_worker", "community_staff"}, ("grid_worker",), Reach(OURS)),
        ({"inspector", "credit_officer"}, ("inspector", "grid_worker"), Reach(OURS)),
        ({"inspector", "credit_officer"}, ("inspector", "credit_officer"), EVERYWHERE),
        ({"grid_worker", "admin"}, ("grid_worker",), EVERYWHERE),
        ({"community_staff"}, ("community_staff",), EVERYWHERE),
    ],
)
def test_a_call_reaches_what_the_roles_granting_it_reach(
    roles: set[str], granted_to: tuple[str, ...], reach: Reach
) -> None:
    principal = Principal("someone", frozenset(roles), OURS)
    assert reach_of(principal.acting_under(granted_to)) == reach
