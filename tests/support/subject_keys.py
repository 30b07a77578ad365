"""A registry's subject keys for tests of the services that seal or open with them: a key made on
first ask, destroyed on demand (then None, as the registry's 410)."""

from __future__ import annotations

import uuid

from linli_shared.crypto import Sealer, generate_key


class KeysForTests:
    def __init__(self) -> None:
        self.keys: dict[uuid.UUID, str | None] = {}
        self.asked = 0

    async def key_of(self, subject_id: uuid.UUID) -> str | None:
        self.asked += 1
        return self.keys.setdefault(subject_id, generate_key())

    def destroy(self, subject_id: uuid.UUID) -> None:
        self.keys[subject_id] = None

    def open_note(self, subject_id: uuid.UUID, sealed: str) -> str | None:
        key = self.keys[subject_id]
        assert key is not None, f"the key of {subject_id} was destroyed"
        return Sealer([key]).open(str(subject_id), sealed)["note"]
