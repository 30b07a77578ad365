"""What inspections removes when a resident or a household is erased (docs/privacy.md).

An inspector's note is free text that may name any member of the household, so the notes of
the household's inspections and cases go (on the findings, in the cases' failed findings, in
their timelines and re-inspection plans) whichever member is erased; what was found (items,
severities, outcomes, dates) stays. Erasing the whole household also removes the photos of its
inspections and cases, which may show its people or the inside of its home. A resident's
erasure also forgets which household they were in.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select, union, update
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_inspections.adapters.tables import (
    evidence,
    evidence_photos,
    findings,
    household_members,
    inspections,
    rectification_evidence,
    rectification_timeline,
    rectifications,
)
from linli_shared.erasure import scrub_notes
from linli_shared.memberships import HouseholdMembers


async def erase_copies(
    connection: AsyncConnection, household_id: uuid.UUID, resident_id: uuid.UUID | None
) -> dict[str, int]:
    theirs = select(inspections.c.id).where(inspections.c.subject_id == household_id)
    cases = select(rectifications.c.id).where(rectifications.c.subject_id == household_id)
    notes = await connection.execute(
        update(findings)
        .where(findings.c.inspection_id.in_(theirs), findings.c.note.is_not(None))
        .values(note=None)
    )
    removed = {"finding_notes": int(notes.rowcount or 0)}
    plans = await connection.execute(
        update(rectifications)
        .where(rectifications.c.subject_id == household_id)
        .where(rectifications.c.reinspection_note.is_not(None))
        .values(reinspection_note=None)
    )
    removed["reinspection_notes"] = int(plans.rowcount or 0)
    removed["case_notes"] = await scrub_notes(
        connection, rectifications, "failed_findings", rectifications.c.id.in_(cases)
    )
    removed["timeline_notes"] = await scrub_notes(
        connection,
        rectification_timeline,
        "detail",
        rectification_timeline.c.rectification_id.in_(cases),
    )
    if resident_id is None:
        photos = union(
            select(evidence.c.sha256).where(evidence.c.inspection_id.in_(theirs)),
            select(rectification_evidence.c.sha256).where(
                rectification_evidence.c.rectification_id.in_(cases)
            ),
        )
        gone = await connection.execute(
            delete(evidence_photos).where(evidence_photos.c.sha256.in_(select(photos.subquery())))
        )
        removed["photos"] = int(gone.rowcount or 0)
    else:
        removed["memberships"] = await HouseholdMembers(connection, household_members).forget(
            resident_id
        )
    return removed
