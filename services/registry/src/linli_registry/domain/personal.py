"""Personal data rules: resident ID numbers and mobile numbers are validated and masked."""

from __future__ import annotations

import re
from datetime import date

from linli_shared.masks import mask_phone as mask_phone
from linli_shared.rules import RuleViolation

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")
_PHONE_SHAPE = re.compile(r"^1\d{10}$")


def id_check_digit(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits of a resident ID number."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def validate_id_number(value: str, field: str) -> str:
    """An 18-character resident ID number with a valid birth date and check digit, normalised."""
    number = value.strip().upper()
    if not _ID_SHAPE.match(number):
        raise RuleViolation(field, "an ID number is 17 digits and a check digit (0-9 or X)")
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as error:
        raise RuleViolation(field, "the ID number does not contain a valid birth date") from error
    if id_check_digit(number[:17]) != number[17]:
        raise RuleViolation(field, "the ID number's check digit is wrong")
    return number


def birth_date_of(id_number: str) -> date:
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def validate_phone(value: str, field: str) -> str:
    """A mainland mobile number: 11 digits starting with 1."""
    phone = value.strip().replace(" ", "").replace("-", "")
    if not _PHONE_SHAPE.match(phone):
        raise RuleViolation(field, "a mobile number is 11 digits starting with 1")
    return phone


def mask_id_number(id_number: str) -> str:
    """`110105194912310021` → `1****************1`: the first and last characters only.

    The region and birth date (characters 1-14) are not shown: with them, the few candidates
    left for the rest could be tried one by one (docs/security.md, "Masks and searches").
    """
    return id_number[0] + "*" * (len(id_number) - 2) + id_number[-1]


def id_tail(id_number: str) -> str:
    """The last four characters, kept in plain text for tail search (revealing roles only)."""
    return id_number[-4:]
