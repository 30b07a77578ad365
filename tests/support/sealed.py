"""The values sealed in events (crypto-shredding, docs/privacy.md), found in an event's data, and
whether they still open under the keys the registry gives out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from linli_shared.crypto import SealBroken, Sealer, joint_key


class Sealed(NamedTuple):
    """A sealed value: the id it is bound to, and the subjects whose keys it needs (one, or
    several for a note sealed under their joint key)."""

    bound: str
    value: str
    needs: tuple[str, ...]

    def opened(self, live: Mapping[str, str | None]) -> dict[str, str | None]:
        """Opened with the subjects' `live` keys; raises `SealBroken` if it will not open."""
        keys = [key for subject in self.needs if (key := live.get(subject)) is not None]
        if len(keys) < len(self.needs):
            raise SealBroken(f"a key of {self.needs} is gone")
        key = keys[0] if len(keys) == 1 else joint_key(keys, list(self.needs))
        return Sealer([key]).open(self.bound, self.value)

    def opens_under_any(self, live: Mapping[str, str | None]) -> bool:
        """Whether any of the `live` keys opens it, or the joint key of the keys it needs that
        are left (as if a destroyed one had never been among them)."""
        keys = [key for key in live.values() if key is not None]
        left = [subject for subject in self.needs if live.get(subject) is not None]
        if left and len(self.needs) > 1:
            keys.append(joint_key([live[s] or "" for s in left], left))
        for key in keys:
            try:
                Sealer([key]).open(self.bound, self.value)
            except SealBroken:
                continue
            return True
        return False


def sealed_values(data: Any) -> list[Sealed]:
    """Every sealed value in an event's data."""
    found: list[Sealed] = []
    if not isinstance(data, dict):
        return found
    household = str(data.get("household_id") or data.get("organisation_id"))
    if data.get("address_sealed"):
        found.append(Sealed(household, data["address_sealed"], (household,)))
    contact = data.get("contact") or {}
    if contact.get("subject_sealed"):
        found.append(Sealed(household, contact["subject_sealed"], (household,)))
    for member in data.get("members") or []:
        if member.get("name_sealed"):
            resident = str(member["resident_id"])
            found.append(Sealed(resident, member["name_sealed"], (resident,)))
    for finding in data.get("failed_findings") or []:  # inspectors' notes
        subject = str(data["subject_id"])
        if finding.get("note_sealed"):
            found.append(Sealed(subject, finding["note_sealed"], (subject,)))
        if joint := finding.get("note_sealed_jointly"):
            found.append(Sealed(subject, joint["sealed"], tuple(joint["subjects"])))
    return found
