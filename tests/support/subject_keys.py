"""A registry's subject keys for tests of the services that seal or open with them: a key made on
first ask, destroyed on demand (then None, as the registry's 410), or never made for a subject
said to be unknown (the registry's 404)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from linli_shared.contracts.inspections import JointlySealedV1
from linli_shared.crypto import Sealer, generate_key, joint_key
from linli_shared.messaging.processing import UnknownSubject


class KeysForTests:
    def __init__(self) -> None:
        self.keys: dict[uuid.UUID, str | None] = {}
        self.unknown: set[uuid.UUID] = set()
        self.asked = 0  # reads, as the registry would count them: a batch is one

    async def key_of(self, subject_id: uuid.UUID) -> str | None:
        self.asked += 1
        if subject_id in self.unknown:
            raise UnknownSubject(subject_id, "subject key")
        return self.keys.setdefault(subject_id, generate_key())

    async def keys_of(self, subject_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str | None]:
        self.asked += 1
        return {
            subject: self.keys.setdefault(subject, generate_key())
            for subject in subject_ids
            if subject not in self.unknown
        }

    def destroy(self, subject_id: uuid.UUID) -> None:
        self.keys[subject_id] = None

    def open_note(self, subject_id: uuid.UUID, sealed: JointlySealedV1) -> str | None:
        """Opens as notify does: the joint key of every listed subject's key, bound to the
        first; raises `SealBroken` when it is not the note of `subject_id`."""
        keys = [self.keys[subject] for subject in sealed.subjects]
        assert None not in keys, f"a key of {sealed.subjects} was destroyed"
        key = joint_key([k for k in keys if k], [str(subject) for subject in sealed.subjects])
        return Sealer([key]).open(str(subject_id), sealed.sealed)["note"]
