"""Valid resident ID numbers for stories that must find them again (in a scan, in a mask)."""

from __future__ import annotations

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(region_and_birth: str) -> str:
    """A valid 18-character resident ID whose check character is X (so its tail is distinctive)."""
    for sequence in range(1000):
        first17 = f"{region_and_birth}{sequence:03d}"
        check = "10X98765432"[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]
        if check == "X":
            return first17 + check
    raise AssertionError("no X check digit found")
