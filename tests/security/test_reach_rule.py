"""The reach rule for several roles, as a table: a call reaches what the roles granting its
route reach, never more (docs/security.md, "Reach with several roles")."""

from __future__ import annotations

import uuid

import pytest

from linli_shared.auth import Principal
from linli_shared.reach import EVERYWHERE, Reach, reach_of

OURS = frozenset({"g-ours"})
ORGANISATION = uuid.UUID("00000000-0000-4000-8000-00000000000a")
RESIDENT = uuid.UUID("00000000-0000-4000-8000-00000000000b")
HOUSEHOLD = uuid.UUID("00000000-0000-4000-8000-00000000000c")


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


@pytest.mark.parametrize(
    ("roles", "granted_to", "reach"),
    [
        (
            {"property_manager"},
            ("property_manager",),
            Reach(frozenset(), frozenset({ORGANISATION})),
        ),
        ({"shop"}, ("shop", "community_staff"), Reach(frozenset(), frozenset({ORGANISATION}))),
        ({"resident"}, ("resident",), Reach(frozenset(), frozenset({RESIDENT, HOUSEHOLD}))),
        # A second role adds its own reach only where it grants the route too.
        (
            {"resident", "partner"},
            ("resident",),
            Reach(frozenset(), frozenset({RESIDENT, HOUSEHOLD})),
        ),
        ({"resident", "partner"}, ("resident", "partner"), EVERYWHERE),
        ({"shop", "grid_worker"}, ("shop", "grid_worker"), Reach(OURS, frozenset({ORGANISATION}))),
        ({"shop", "grid_worker"}, ("grid_worker",), Reach(OURS)),
        ({"shop", "resident"}, ("shop",), Reach(frozenset(), frozenset({ORGANISATION}))),
        (
            {"property_manager", "community_staff"},
            ("property_manager", "community_staff"),
            EVERYWHERE,
        ),
    ],
)
def test_a_party_reaches_its_own_records_only_where_its_role_grants_the_call(
    roles: set[str], granted_to: tuple[str, ...], reach: Reach
) -> None:
    principal = Principal(
        "someone", frozenset(roles), OURS, organisation_id=ORGANISATION, resident_id=RESIDENT
    )
    assert reach_of(principal.acting_under(granted_to), HOUSEHOLD) == reach


def test_a_party_without_its_claim_reaches_nothing() -> None:
    for role in ("property_manager", "shop", "resident"):
        reach = reach_of(Principal("someone", frozenset({role}), OURS), HOUSEHOLD)
        assert reach == Reach(frozenset(), frozenset())
        assert not reach.covers("g-ours", HOUSEHOLD, ORGANISATION)


def test_a_resident_no_longer_in_a_household_reaches_only_their_own_records() -> None:
    principal = Principal("someone", frozenset({"resident"}), resident_id=RESIDENT)
    reach = reach_of(principal, None)
    assert reach.covers(None, RESIDENT) and not reach.covers(None, HOUSEHOLD)
