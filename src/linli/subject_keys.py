"""Notify's and inspections' source of subject keys under `linli run`: the registry's use case in
the same process. A deployment's notify worker and inspections API ask the registry's API instead
(`linli_shared.subject_keys.RegistryKeyClient`); the answers are the same."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from linli_registry.service.subject_keys import SubjectKeyDestroyed, SubjectKeyUseCases
from linli_shared.errors import NotFound
from linli_shared.messaging.processing import UnknownSubject
from linli_shared.subject_keys import batches


class InProcessSubjectKeys:
    def __init__(self, keys: SubjectKeyUseCases) -> None:
        self._keys = keys

    async def key_of(self, subject_id: uuid.UUID) -> str | None:
        """The key; None once destroyed (the subject was erased)."""
        try:
            return (await self._keys.key_of(subject_id)).key
        except SubjectKeyDestroyed:
            return None
        except NotFound:
            raise UnknownSubject(subject_id, "subject key") from None

    async def keys_of(self, subject_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str | None]:
        """The keys, None for the destroyed; a subject without a key is left out."""
        answer: dict[uuid.UUID, str | None] = {}
        for batch in batches(subject_ids):
            found = await self._keys.keys_of(batch)
            answer.update((subject, key.key) for subject, key in found.items() if key is not None)
        return answer
