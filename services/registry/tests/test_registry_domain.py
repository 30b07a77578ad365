"""Registry household rules, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linli_registry.domain.household import HEAD, Household, InvalidHousehold, Member, register
from linli_shared.rules import RuleViolation

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _register(members: list[Member], address: str = "幸福路 1 号 2 栋 301") -> Household:
    return register(
        community_id="c-xingfu",
        grid_id="g-07",
        address=address,
        members=members,
        contact_email="zhang@example.com",
        now=NOW,
    )


def test_a_household_with_one_head_is_registered() -> None:
    members = [Member("张三", HEAD), Member("李四", "spouse"), Member("张小三", "child")]

    household = register(
        community_id="c-xingfu",
        grid_id="g-07",
        address="  幸福路 1 号  ",
        members=members,
        contact_email="zhang@example.com",
        now=NOW,
    )

    assert household.members == tuple(members)
    assert household.head == Member("张三", HEAD)
    assert household.address == "幸福路 1 号"
    assert household.community_id == "c-xingfu"
    assert household.grid_id == "g-07"
    assert household.contact_email == "zhang@example.com"
    assert household.registered_at == NOW
    assert household.version == 1


def test_each_registration_gets_its_own_id() -> None:
    first = register(
        community_id="c",
        grid_id="g",
        address="a",
        members=[Member("张三", HEAD)],
        contact_email="a@example.com",
        now=NOW,
    )
    second = register(
        community_id="c",
        grid_id="g",
        address="a",
        members=[Member("张三", HEAD)],
        contact_email="a@example.com",
        now=NOW,
    )
    assert first.id != second.id


def test_members_are_required() -> None:
    with pytest.raises(InvalidHousehold) as raised:
        _register([])
    assert raised.value.field == "members"


@pytest.mark.parametrize(
    "members",
    [
        [Member("张三", "spouse")],
        [Member("张三", HEAD), Member("李四", HEAD)],
        [Member("张三", HEAD), Member("李四", "child"), Member("王五", HEAD)],
    ],
    ids=["no-head", "two-heads", "two-heads-among-others"],
)
def test_exactly_one_head(members: list[Member]) -> None:
    with pytest.raises(InvalidHousehold) as raised:
        _register(members)
    assert raised.value.field == "members"
    assert "head" in raised.value.message


@pytest.mark.parametrize("address", ["", " ", "   ", "\t\n", "\u3000"])
def test_blank_address_is_refused(address: str) -> None:
    with pytest.raises(InvalidHousehold) as raised:
        _register([Member("张三", HEAD)], address=address)
    assert raised.value.field == "address"


def test_an_invalid_household_is_a_rule_violation() -> None:
    # The API turns every RuleViolation into a 422 naming the field.
    assert issubclass(InvalidHousehold, RuleViolation)
    assert issubclass(InvalidHousehold, ValueError)


relations = st.sampled_from([HEAD, "spouse", "child", "parent", "other"])


@settings(deadline=None)
@given(st.lists(relations, min_size=1, max_size=12))
def test_registration_succeeds_exactly_when_there_is_one_head(kinds: list[str]) -> None:
    members = [Member(f"成员{i}", relation) for i, relation in enumerate(kinds)]
    if kinds.count(HEAD) == 1:
        household = register(
            community_id="c",
            grid_id="g",
            address="幸福路 1 号",
            members=members,
            contact_email="a@example.com",
            now=NOW,
        )
        assert household.head.relation == HEAD
        assert household.members == tuple(members)
    else:
        with pytest.raises(InvalidHousehold) as raised:
            _register(members)
        assert raised.value.field == "members"
