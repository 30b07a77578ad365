"""How personal data is shown to a reader without the right to see it (docs/security.md)."""

from __future__ import annotations

import re

_MOBILE = re.compile(r"^1\d{10}$")


def mask_phone(phone: str) -> str:
    """`13812345678` → `138****5678`: the carrier prefix and the last four digits."""
    return phone[:3] + "****" + phone[7:]


def mask_if_phone(address: str) -> str:
    """A delivery address as shown: a mobile number masked, anything else as it is."""
    return mask_phone(address) if _MOBILE.match(address) else address
