"""What notify removes when a resident or a household is erased (docs/privacy.md).

The household's notices lose what they said (subject, body, the values they were made from) and
their deliveries the address they went to; what was sent when, by which channel, with which
result stays. Erasing the whole household also removes its contact, name and address and
cancels its notices still waiting. A resident's erasure also forgets which household they were
in. A notice still waiting when a resident is erased keeps its text until it is delivered, as
it is the household's: `linli notify` erasure leaves pending notices to the dispatcher.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_notify.adapters.tables import deliveries, household_members, notices, recipients
from linli_notify.domain.notice import NoticeStatus
from linli_shared.memberships import HouseholdMembers


async def erase_copies(
    connection: AsyncConnection, household_id: uuid.UUID, resident_id: uuid.UUID | None
) -> dict[str, int]:
    whole = resident_id is None
    theirs = notices.c.recipient_id == household_id
    removed: dict[str, int] = {}
    if whole:
        cancelled = await connection.execute(
            update(notices)
            .where(theirs, notices.c.status == NoticeStatus.PENDING.value)
            .values(status=NoticeStatus.FAILED.value)
        )
        removed["notices_cancelled"] = int(cancelled.rowcount or 0)
        contact = await connection.execute(
            update(recipients)
            .where(recipients.c.id == household_id)
            .values(name="", email=None, phone=None, address=None, active=False)
        )
        removed["contacts"] = int(contact.rowcount or 0)
    said = await connection.execute(
        update(notices)
        .where(theirs, notices.c.status != NoticeStatus.PENDING.value)
        .values(variables={}, subject=None, body=None)
    )
    removed["notice_texts"] = int(said.rowcount or 0)
    sent_to = await connection.execute(
        update(deliveries)
        .where(deliveries.c.notice_id.in_(select(notices.c.id).where(theirs)))
        .values(address="")
    )
    removed["delivery_addresses"] = int(sent_to.rowcount or 0)
    if resident_id is not None:
        removed["memberships"] = await HouseholdMembers(connection, household_members).forget(
            resident_id
        )
    return removed
