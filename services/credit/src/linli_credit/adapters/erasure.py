"""What credit removes when a resident or a household is erased (docs/privacy.md).

The ledger stays: its entries are keyed by the household's and residents' ids, pseudonyms that
lead back to no one once the registry has erased them, and the credit rules require the
entries (their repair periods, the appeals they went through). What goes is the free text
people wrote about them: the notes entries carry from their causes (an inspector's note on a
failed finding, a repair's note), the grounds of appeals and the reasons of their decisions, and
the reasons given for green-channel checks, on the household's account and the resident's.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_credit.adapters.tables import appeals, entries, green_channel_checks
from linli_shared.erasure import scrub_notes


async def erase_copies(
    connection: AsyncConnection, household_id: uuid.UUID, resident_id: uuid.UUID | None
) -> dict[str, int]:
    subjects = [household_id] if resident_id is None else [household_id, resident_id]
    texts = await connection.execute(
        update(appeals)
        .where(appeals.c.subject_id.in_(subjects))
        .values(grounds="", decision_reason=None)
    )
    reasons = await connection.execute(
        update(green_channel_checks)
        .where(
            green_channel_checks.c.subject_id.in_(subjects),
            green_channel_checks.c.reason.is_not(None),
        )
        .values(reason=None)
    )
    if connection.dialect.name == "postgresql":
        # The ledger's trigger lets an entry's cause change only in a transaction that says so.
        await connection.execute(text("SET LOCAL linli.erasure = 'on'"))
    notes = await scrub_notes(connection, entries, "cause", entries.c.subject_id.in_(subjects))
    return {
        "entry_notes": notes,
        "appeal_texts": int(texts.rowcount or 0),
        "check_reasons": int(reasons.rowcount or 0),
    }
