"""Inspectors' notes in events: sealed under the key of the subject the inspection is about (the
household, or the organisation that answers for a compound or a shop), never in clear
(crypto-shredding, docs/privacy.md). A note is free text that may name a member and their phone;
once the registry destroys the subject's key (its erasure), every copy in every topic, dead-letter
topic and log is unreadable.

The key comes from the registry (`linli_shared.subject_keys`) while the inspection's
transaction is open, and only when a failed finding has a note. A registry that cannot answer
fails the request with 503 and nothing is written: an inspection recorded without its note in
the notice would tell the household less than the inspector wrote, and the device simply sends
it again (recording is idempotent per client id). A destroyed key seals nothing: the note does
not travel (inspections keeps it, until its own part of the erasure removes it).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from linli_inspections.domain.inspection import Finding
from linli_shared.crypto import Sealer
from linli_shared.errors import ProblemError
from linli_shared.messaging.processing import UnknownSubject
from linli_shared.subject_keys import SubjectKeySource, SubjectKeyUnavailable

log = logging.getLogger(__name__)


class KeysUnavailable(ProblemError):
    """503: the registry did not give the subject's key, so the note cannot travel sealed."""

    def __init__(self, subject_id: uuid.UUID, reason: str) -> None:
        super().__init__(
            503,
            "subject-key-unavailable",
            "Subject key unavailable",
            f"the registry did not give the key to seal the notes about {subject_id} "
            f"({reason}); nothing was recorded: send the inspection again later",
        )


@dataclass(frozen=True)
class NoteSeal:
    """How the notes about `subject` travel: sealed under its key, bound to its id; without a key
    (destroyed, or none at all) not at all."""

    subject: uuid.UUID
    key: str | None = None

    def seal(self, note: str | None) -> str | None:
        if not note or self.key is None:
            return None
        return Sealer([self.key]).seal(str(self.subject), {"note": note})


@dataclass(frozen=True)
class NoteSealing:
    _keys: SubjectKeySource

    async def seal_for(self, subject_id: uuid.UUID, findings: Sequence[Finding]) -> NoteSeal:
        """The seal for the notes of `findings` about the subject; asks the registry only when
        one of them has a note."""
        if not any(finding.note for finding in findings):
            return NoteSeal(subject_id)
        try:
            key = await self._keys.key_of(subject_id)
        except SubjectKeyUnavailable as error:
            raise KeysUnavailable(subject_id, str(error)) from error
        except UnknownSubject:
            # The registry never sealed anything about the subject (e.g. a household registered
            # before subject keys and unchanged since): there is no key to seal under, so the
            # note stays in inspections alone rather than travel in clear.
            log.warning("no subject key for %s: the inspection's notes do not travel", subject_id)
            key = None
        return NoteSeal(subject_id, key)
