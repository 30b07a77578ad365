"""Retention: the inspections' own categories of its retention policy (`policies/retention/`).

Inspection evidence goes once the matter it backs is settled and the policy's period has passed
since: a passed inspection (or a re-inspection whose case is verified) from its date, a failed
one from the day its rectification case was verified. Evidence of a case still open, ready or
overdue stays, however old. The inspections, findings and cases themselves stay.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import ColumnElement, and_, exists, or_, select

from linli_inspections.adapters import tables
from linli_inspections.domain.rectification import Status
from linli_shared.db import Database
from linli_shared.retention import Sweep, delete_in_batches

SHIPPED_POLICIES = Path(__file__).resolve().parent.parent / "policies" / "retention"

INSPECTION_EVIDENCE = "inspection_evidence"


def _settled_before(before: datetime) -> ColumnElement[bool]:
    """The inspections whose matter was settled before `before`."""
    inspections, cases = tables.inspections, tables.rectifications
    verified = Status.VERIFIED.value
    return or_(
        exists().where(
            cases.c.inspection_id == inspections.c.id,
            cases.c.status == verified,
            cases.c.verified_at < before,
        ),
        and_(
            ~exists().where(cases.c.inspection_id == inspections.c.id),
            inspections.c.inspected_at < before,
            # A re-inspection of a case that is still open backs that open case.
            ~exists().where(
                or_(
                    cases.c.id == inspections.c.reinspection_of,
                    cases.c.inspection_id == inspections.c.reinspection_of,
                ),
                cases.c.status != verified,
            ),
        ),
    )


class RetentionUseCases:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def forget_inspection_evidence(self, before: datetime, batch_size: int) -> int:
        """Delete the evidence of inspections settled before `before`, the photos a responsible
        party added to cases verified before it, and then every photo uploaded before it that
        nothing shows any more; returns how many rows went."""
        inspections, cases = tables.inspections, tables.rectifications
        evidence, added, photos = (
            tables.evidence,
            tables.rectification_evidence,
            tables.evidence_photos,
        )
        settled = select(inspections.c.id).where(_settled_before(before))
        gone = await delete_in_batches(
            self._database,
            evidence,
            ["inspection_id", "finding_position", "position"],
            evidence.c.inspection_id.in_(settled),
            batch_size,
        )
        verified = select(cases.c.id).where(
            cases.c.status == Status.VERIFIED.value, cases.c.verified_at < before
        )
        gone += await delete_in_batches(
            self._database,
            added,
            ["rectification_id", "sha256"],
            added.c.rectification_id.in_(verified),
            batch_size,
        )
        unshown = and_(
            photos.c.uploaded_at < before,
            ~exists().where(evidence.c.sha256 == photos.c.sha256),
            ~exists().where(added.c.sha256 == photos.c.sha256),
        )
        gone += await delete_in_batches(self._database, photos, ["sha256"], unshown, batch_size)
        return gone

    def sweeps(self) -> dict[str, Sweep]:
        return {INSPECTION_EVIDENCE: self.forget_inspection_evidence}
