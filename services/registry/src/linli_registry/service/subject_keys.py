"""Handing a subject's key to notify, the one consumer that opens the personal data sealed in
the registry's events (`GET /v1/subject-keys/{subject_id}`, the `key_reader` role).

The keys themselves, how they are made and destroyed: `linli_registry.adapters.subject_keys`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from linli_registry.adapters.subject_keys import SubjectKeys
from linli_registry.domain.subject_keys import SubjectKey
from linli_shared.errors import NotFound, ProblemError


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
