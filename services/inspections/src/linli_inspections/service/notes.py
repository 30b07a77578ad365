"""Inspectors' notes in events: sealed, never in clear (crypto-shredding, docs/privacy.md), under
the joint key of the inspection's subject (the household, or the organisation that answers for a
compound or a shop) and of each member of the household (`linli_shared.crypto.joint_key`). A note
is free text that may name any member and her phone, and nobody can tell from the text whom it
names: so it needs every one of their keys, and once the registry destroys any one of them (that
member's erasure, or the household's) every copy in every topic, dead-letter topic and log is
unreadable.

The keys come from the registry (`linli_shared.subject_keys`) while the inspection's transaction
is open, and only when a failed finding has a note. A registry that cannot answer fails the
request with 503 and nothing is written: an inspection recorded without its note in the notice
would tell the household less than the inspector wrote, and the device simply sends it again
(recording is idempotent per client id). A destroyed subject key seals nothing: the note does not
travel (inspections keeps it, until its own part of the erasure removes it). A member without a
key (destroyed: erased, and the members list has not caught up; or never made) is left out:
there is no key of hers whose destruction could shred it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_inspections.adapters.repository import PlaceReadModel
from linli_inspections.domain.inspection import Inspection
from linli_shared.contracts.common import SubjectKind
from linli_shared.contracts.inspections import JointlySealedV1
from linli_shared.crypto import Sealer, joint_key
from linli_shared.errors import ProblemError
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
    """How the notes about `subjects[0]` travel: sealed under the joint key of `keys` (one per
    subject, in order) and bound to the first subject's id; without keys, not at all."""

    subjects: tuple[uuid.UUID, ...]
    keys: tuple[str, ...] = ()

    def seal(self, note: str | None) -> JointlySealedV1 | None:
        if not note or not self.keys:
            return None
        ids = [str(subject) for subject in self.subjects]
        key = joint_key(self.keys, ids)
        return JointlySealedV1(
            subjects=list(self.subjects), sealed=Sealer([key]).seal(ids[0], {"note": note})
        )


@dataclass(frozen=True)
class NoteSealing:
    _keys: SubjectKeySource

    async def seal_for(self, connection: AsyncConnection, inspection: Inspection) -> NoteSeal:
        """The seal for the notes of the inspection's failed findings, under the keys of its
        subject and (a household) its members as inspections knows them now; asks the registry
        only when a finding has a note."""
        subject_id = inspection.subject_id
        if not any(finding.note for finding in inspection.failed_findings):
            return NoteSeal((subject_id,))
        members = (
            await PlaceReadModel(connection).members_of(subject_id)
            if inspection.subject_kind == SubjectKind.HOUSEHOLD
            else []
        )
        # The household's and every member's key in one read of the registry's, not one each.
        keys = await self._keys_of([subject_id, *members])
        key = keys.get(subject_id)
        if key is None:
            return NoteSeal((subject_id,))
        subjects, joint = [subject_id], [key]
        for member in members:
            member_key = keys.get(member)
            if member_key is not None:
                subjects.append(member)
                joint.append(member_key)
        return NoteSeal(tuple(subjects), tuple(joint))

    async def _keys_of(self, subjects: list[uuid.UUID]) -> dict[uuid.UUID, str | None]:
        try:
            keys = await self._keys.keys_of(subjects)
        except SubjectKeyUnavailable as error:
            raise KeysUnavailable(subjects[0], str(error)) from error
        for unknown in (subject for subject in subjects if subject not in keys):
            # The registry never sealed anything about the subject (e.g. a household registered
            # before subject keys and unchanged since): there is no key to seal under.
            log.warning("no subject key for %s: notes are not sealed under it", unknown)
        return keys
