"""Personal-data rules and household history, without I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli_registry.domain import household as rules
from linli_registry.domain.household import HEAD, HouseholdClosed, Member, Status
from linli_registry.domain.personal import (
    id_check_digit,
    mask_id_number,
    mask_phone,
    validate_id_number,
    validate_phone,
)
from linli_shared.crypto import FieldCipher, generate_key
from linli_shared.rules import RuleViolation

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
VALID_ID = "11010519491231002X"


def test_a_valid_id_number_passes_and_is_normalised() -> None:
    assert validate_id_number(" 11010519491231002x ", "f") == VALID_ID


@pytest.mark.parametrize(
    "value",
    ["110105194912310021", "1101051949123100", "11010519491331002X", "A1010519491231002X"],
    ids=["bad-check-digit", "too-short", "bad-month", "letter"],
)
def test_invalid_id_numbers_name_the_field(value: str) -> None:
    with pytest.raises(RuleViolation) as raised:
        validate_id_number(value, "members.0.id_number")
    assert raised.value.field == "members.0.id_number"


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_the_check_digit_makes_any_17_digits_valid_if_the_date_is(first17: str) -> None:
    number = first17 + id_check_digit(first17)
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return
    assert validate_id_number(number, "f") == number


@pytest.mark.parametrize("phone", ["1381234567", "23812345678", "138123456789", "138-1234-567a"])
def test_invalid_phones_are_refused(phone: str) -> None:
    with pytest.raises(RuleViolation):
        validate_phone(phone, "phone")


def test_masks() -> None:
    assert mask_id_number(VALID_ID) == VALID_ID[0] + "*" * 16 + VALID_ID[-1]
    assert mask_phone("13812345678") == "138****5678"
    assert validate_phone("138 1234 5678", "p") == "13812345678"


def _household() -> rules.Household:
    return rules.register(
        community_id="c",
        grid_id="g",
        address="幸福路 1 号",
        members=[Member("张三", HEAD, id_number=VALID_ID, phone="13812345678")],
        contact_email="a@example.com",
        now=NOW,
    )


def test_the_birth_date_comes_from_the_id_number_and_must_agree() -> None:
    assert _household().members[0].birth_date == date(1949, 12, 31)
    with pytest.raises(RuleViolation) as raised:
        rules.register(
            community_id="c",
            grid_id="g",
            address="a",
            members=[Member("张三", HEAD, birth_date=date(1950, 1, 1), id_number=VALID_ID)],
            contact_email="a@example.com",
            now=NOW,
        )
    assert raised.value.field == "members.0.birth_date"


def test_every_change_is_the_next_version() -> None:
    household = _household()
    moved = rules.move(
        household, grid_id="g2", address="和平路 2 号", compound_id=None, building_id=None
    )
    changed = rules.change_members(moved, [Member("张三", HEAD), Member("李四", "spouse")])
    consented = rules.change_consent(
        changed, integrity_scoring=True, notice_channels=["sms"], recorded_by="staff-1", now=NOW
    )
    assert [h.version for h in (household, moved, changed, consented)] == [1, 2, 3, 4]
    assert consented.consent.recorded_by == "staff-1"
    assert consented.consent.recorded_at == NOW


def test_moving_to_where_it_lives_is_refused() -> None:
    household = _household()
    with pytest.raises(RuleViolation):
        rules.move(
            household, grid_id="g", address=" 幸福路 1 号", compound_id=None, building_id=None
        )


def test_a_deregistered_household_does_not_change() -> None:
    gone = rules.deregister(_household(), reason="moved away", now=NOW)
    assert gone.status is Status.DEREGISTERED
    with pytest.raises(HouseholdClosed):
        rules.change_members(gone, [Member("王五", HEAD)])


def test_address_key_ignores_width_case_and_spaces() -> None:
    assert rules.address_key("幸福路　１号 Ａ栋") == rules.address_key("幸福路1号a栋")


def test_sms_needs_a_phone() -> None:
    with pytest.raises(RuleViolation) as raised:
        rules.change_contact(_household(), rules.Contact("a@example.com", None, ("sms",)))
    assert raised.value.field == "contact.phone"


def test_field_cipher_rotates_keys_and_indexes_deterministically() -> None:
    old, new = generate_key(), generate_key()
    before = FieldCipher([old], "index-key")
    token = before.encrypt(VALID_ID)
    assert VALID_ID not in token
    after = FieldCipher([new, old], "index-key")
    assert after.decrypt(token) == VALID_ID
    rotated = after.rotate(token)
    assert FieldCipher([new], "index-key").decrypt(rotated) == VALID_ID
    assert before.blind_index(VALID_ID) == after.blind_index(VALID_ID)
    assert before.blind_index(VALID_ID) != FieldCipher([old], "other").blind_index(VALID_ID)
