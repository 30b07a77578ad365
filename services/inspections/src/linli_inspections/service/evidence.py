"""Photo evidence: uploaded once per content (the same bytes again answer the same), read back by
those who may see the inspections showing it, and checked when an inspection refers to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_inspections.adapters.repository import PhotoRepository
from linli_inspections.domain import evidence as rules
from linli_inspections.domain.evidence import Photo
from linli_inspections.domain.inspection import Evidence, Inspection
from linli_shared.clock import Clock
from linli_shared.db import Database
from linli_shared.errors import NotFound, ProblemError
from linli_shared.reach import EVERYWHERE, Reach
from linli_shared.rules import RuleViolation


@dataclass(frozen=True)
class EvidenceUseCases:
    _database: Database
    _clock: Clock
    _max_bytes: int

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    async def upload(
        self, content_type: str | None, content: bytes, uploaded_by: str
    ) -> tuple[Photo, bool]:
        """Store a photo; returns it and whether it is new (the same bytes are stored once)."""
        try:
            photo = rules.accept(
                content_type,
                content,
                max_bytes=self._max_bytes,
                uploaded_by=uploaded_by,
                now=self._clock.now(),
            )
        except rules.UnsupportedType as error:
            raise ProblemError(
                415, "unsupported-media-type", "Unsupported media type", str(error)
            ) from error
        except rules.TooLarge as error:
            raise ProblemError(
                413, "payload-too-large", "Request body too large", str(error)
            ) from error
        async with self._database.transaction() as connection:
            repository = PhotoRepository(connection)
            if await repository.add(photo):
                return photo, True
            stored = await repository.get(photo.sha256, with_content=False)
        return stored or photo, False

    async def get(self, sha256: str, reader: str, reach: Reach = EVERYWHERE) -> Photo:
        """The photo with its bytes. A grid-bound reader sees only the photos of inspections and
        cases in its grids, a responsible party those of its own inspections and cases, each
        its own uploads too; any other reads as absent."""
        sha256 = sha256.lower()
        async with self._database.connect() as connection:
            repository = PhotoRepository(connection)
            photo = await repository.get(sha256)
            if photo is None or not (
                reach.grids is None
                or photo.uploaded_by == reader
                or await repository.shown_in(sha256, reach.grids, reach.parties)
            ):
                raise NotFound("photo", sha256)
        return photo


async def check_uploaded(connection: AsyncConnection, inspection: Inspection) -> None:
    """Every `linli:evidence/…` reference of the inspection names an uploaded photo, with its
    hash; other references (a store of the client's own) are taken as given."""
    for i, finding in enumerate(inspection.findings):
        await check_shown(connection, finding.evidence, f"findings.{i}.evidence")


async def check_shown(
    connection: AsyncConnection, shown: Sequence[Evidence], field: str = "evidence"
) -> None:
    """Every `linli:evidence/…` reference among `shown` names an uploaded photo, with its hash
    (else a 422 naming `<field>.<n>.photo_ref`); other references are taken as given."""
    repository = PhotoRepository(connection)
    for j, given in enumerate(shown):
        named = rules.uploaded_sha256(given.photo_ref)
        if named is None:
            continue
        where = f"{field}.{j}.photo_ref"
        if named.lower() != given.sha256.lower():
            raise RuleViolation(where, "the photo's reference and its sha256 differ")
        if await repository.get(named.lower(), with_content=False) is None:
            raise RuleViolation(where, f"no photo {named} was uploaded (POST /v1/evidence)")
