"""Handing subjects' keys to the services that seal or open personal data in events (notify,
inspections): one subject's (`GET /v1/subject-keys/{subject_id}`) or a note's household and
members at once (`GET /v1/subject-keys?subject_id=…`), the `key_reader` role only.

The keys themselves, how they are made and destroyed: `linli_registry.adapters.subject_keys`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from linli_registry.adapters.subject_keys import SubjectKeys
from linli_registry.domain.subject_keys import SubjectKey
from linli_shared.errors import NotFound, ProblemError
from linli_shared.subject_keys import SUBJECT_KEYS_PER_READ


class SubjectKeyDestroyed(ProblemError):
    """410 Gone: the subject was erased; its key, and so every sealed copy, is gone for good."""

    def __init__(self, key: SubjectKey) -> None:
        super().__init__(
            410,
            "subject-key-destroyed",
            "Subject key destroyed",
            f"the key of {key.kind} {key.subject_id} was destroyed at "
            f"{key.destroyed_at.isoformat() if key.destroyed_at else 'an unknown time'}: "
            "what was sealed under it cannot be opened",
        )
        self.key = key


@dataclass(frozen=True)
class SubjectKeyUseCases:
    _keys: SubjectKeys

    async def key_of(self, subject_id: uuid.UUID) -> SubjectKey:
        """The subject's live key; 410 once destroyed, 404 for a subject that never had one."""
        key = await self._keys.find(subject_id)
        if key is None:
            raise NotFound("subject key", subject_id)
        if key.destroyed:
            raise SubjectKeyDestroyed(key)
        return key

    async def keys_of(self, subject_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, SubjectKey | None]:
        """Each subject's key or its destruction, None for one that never had a key, in the
        order asked (each once); at most `SUBJECT_KEYS_PER_READ` subjects, read at once."""
        asked = list(dict.fromkeys(subject_ids))
        if len(asked) > SUBJECT_KEYS_PER_READ:
            raise ValueError(f"at most {SUBJECT_KEYS_PER_READ} subject keys are read at once")
        found = await self._keys.find_all(asked)
        return {subject: found.get(subject) for subject in asked}
