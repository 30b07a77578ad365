"""Retention in inspections: with the clock past the period since an inspection's matter was
settled (a passed inspection's date, its case's verification), exactly its evidence and the
photos nothing shows any more go. Evidence of settled matters inside the period, of cases still
open or overdue (and of their re-inspections), and photos still shown elsewhere stay."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, insert, select

from linli_inspections.adapters import tables
from linli_inspections.app import retention_job
from linli_inspections.settings import InspectionsSettings
from linli_shared.clock import FixedClock
from linli_shared.db import Database
from linli_shared.settings import PlatformSettings

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PERIOD = timedelta(days=1095)  # inspection_evidence in policy 2026.1
EXPIRED = NOW - PERIOD - timedelta(minutes=1)
INSIDE = NOW - PERIOD + timedelta(minutes=1)
LONG_AGO = NOW - PERIOD - timedelta(days=400)


async def _photo(database: Database, name: str, uploaded_at: datetime = LONG_AGO) -> str:
    sha256 = name.ljust(64, "0")
    async with database.transaction() as connection:
        await connection.execute(
            insert(tables.evidence_photos).values(
                sha256=sha256,
                content_type="image/jpeg",
                size=3,
                bytes=b"jpg",
                uploaded_by="inspector-1",
                uploaded_at=uploaded_at,
            )
        )
    return sha256


async def _inspection(
    database: Database,
    inspected_at: datetime,
    photos: list[str],
    *,
    case: tuple[str, datetime | None] | None = None,
    reinspection_of: uuid.UUID | None = None,
    case_photos: Sequence[str] = (),
) -> uuid.UUID:
    """An inspection with `photos` as evidence; `case`: its rectification's status and when it
    was verified. Returns the case's id when it has one, else the inspection's."""
    inspection_id, case_id = uuid.uuid4(), uuid.uuid4()
    async with database.transaction() as connection:
        await connection.execute(
            insert(tables.inspections).values(
                id=inspection_id,
                subject_id=uuid.uuid4(),
                subject_kind="household",
                checklist="sanitation",
                inspector_id="inspector-1",
                inspected_at=inspected_at,
                outcome="failed" if case else "passed",
                reinspection_of=reinspection_of,
            )
        )
        for position, sha256 in enumerate(photos):
            await connection.execute(
                insert(tables.evidence).values(
                    inspection_id=inspection_id,
                    finding_position=0,
                    position=position,
                    photo_ref=f"/v1/evidence/{sha256}",
                    sha256=sha256,
                )
            )
        if case is not None:
            status, verified_at = case
            await connection.execute(
                insert(tables.rectifications).values(
                    id=case_id,
                    inspection_id=inspection_id,
                    subject_id=uuid.uuid4(),
                    subject_kind="household",
                    checklist="sanitation",
                    severity="general",
                    comply_by=inspected_at + timedelta(days=7),
                    failed_findings=["stairwell"],
                    requested_at=inspected_at,
                    status=status,
                    escalation="none",
                    verified_at=verified_at,
                )
            )
            for sha256 in case_photos:
                await connection.execute(
                    insert(tables.rectification_evidence).values(
                        rectification_id=case_id,
                        sha256=sha256,
                        photo_ref=f"/v1/evidence/{sha256}",
                        added_at=inspected_at + timedelta(days=1),
                    )
                )
    return case_id if case is not None else inspection_id


async def _column(database: Database, column: ColumnElement[Any]) -> set[Any]:
    async with database.connect() as connection:
        return set((await connection.execute(select(column))).scalars())


async def test_exactly_the_evidence_of_matters_settled_past_the_period_goes(
    database: Database,
) -> None:
    shared = await _photo(database, "shared")
    passed_expired = await _inspection(database, EXPIRED, [await _photo(database, "a"), shared])
    passed_inside = await _inspection(database, INSIDE, [await _photo(database, "b"), shared])
    verified_expired = await _inspection(
        database,
        LONG_AGO,
        [await _photo(database, "c")],
        case=("verified", EXPIRED),
        case_photos=[await _photo(database, "c2")],
    )
    verified_inside = await _inspection(
        database,
        LONG_AGO,
        [await _photo(database, "d")],
        case=("verified", INSIDE),
        case_photos=[await _photo(database, "d2")],
    )
    overdue = await _inspection(
        database,
        LONG_AGO,
        [await _photo(database, "e")],
        case=("overdue", None),
        case_photos=[await _photo(database, "e2")],
    )
    reinspection_of_open_case = await _inspection(
        database, LONG_AGO, [await _photo(database, "f")], reinspection_of=overdue
    )
    unshown_old = await _photo(database, "orphan-old", EXPIRED)
    unshown_recent = await _photo(database, "orphan-new", INSIDE)
    settings = InspectionsSettings(
        database_url=database.url, platform=PlatformSettings(prune_batch_size=2)
    )

    run = await retention_job(database, settings, FixedClock(NOW)).run_once()

    assert await _column(database, tables.evidence.c.inspection_id) == {
        passed_inside,
        reinspection_of_open_case,
    } | await _inspections_of(database, {verified_inside, overdue})
    assert await _column(database, tables.rectification_evidence.c.rectification_id) == {
        verified_inside,
        overdue,
    }
    kept = {p.rstrip("0") for p in await _column(database, tables.evidence_photos.c.sha256)}
    assert kept == {"shared", "b", "d", "d2", "e", "e2", "f", "orphan-new"}
    assert unshown_old.rstrip("0") not in kept and unshown_recent.rstrip("0") in kept
    # Evidence rows: a, shared (passed) and c (verified); one case photo; photos a, c, c2, orphan.
    assert run.counts["inspection_evidence"] == 3 + 1 + 4
    assert passed_expired in await _column(database, tables.inspections.c.id), "records stay"
    assert verified_expired in await _column(database, tables.rectifications.c.id)

    again = await retention_job(database, settings, FixedClock(NOW)).run_once()
    assert again.counts["inspection_evidence"] == 0


async def _inspections_of(database: Database, cases: set[uuid.UUID]) -> set[uuid.UUID]:
    cases_table = tables.rectifications
    async with database.connect() as connection:
        rows = await connection.execute(
            select(cases_table.c.inspection_id).where(cases_table.c.id.in_(cases))
        )
        return set(rows.scalars())
