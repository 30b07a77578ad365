"""Notify's part of an access request: it answers `access.requested` with what it holds of the
resident (their household as a recipient, every notice to it), sealed to the request's key so
only the registry opens it; a resident it does not know gets an answer with no records."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from linli_notify.adapters.tables import outbox
from linli_shared.clock import FixedClock
from linli_shared.contracts import CATALOGUE
from linli_shared.contracts.access import (
    AccessRecords,
    AccessRequested,
    NotifyAccessAnswered,
    access_context,
)
from linli_shared.contracts.common import SubjectKind
from linli_shared.crypto import new_key_pair, open_sealed
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope
from services.notify.tests.notify_support import make
from services.notify.tests.test_notify_grid_scope import NOW, Notify, failed_inspection
from tests.support.grid_scope import household_in


@pytest.fixture
def notify(client: httpx.AsyncClient, database: Database) -> Notify:
    return Notify(client, make(database, FixedClock(NOW)), database)


async def _answers(database: Database) -> list[NotifyAccessAnswered]:
    async with database.connect() as connection:
        payloads = (await connection.execute(select(outbox.c.payload))).scalars().all()
    events = [Envelope.from_json(p).parse(CATALOGUE) for p in payloads]
    return [e for e in events if isinstance(e, NotifyAccessAnswered)]


async def test_notify_answers_with_the_residents_records_sealed_to_the_requests_key(
    notify: Notify, database: Database
) -> None:
    me = uuid.uuid4()
    registered = household_in("grid-a", resident_id=me, at=NOW)
    await notify.apply(registered)
    await notify.apply(failed_inspection(registered.household_id, SubjectKind.HOUSEHOLD))
    await notify.deliver()
    private, public = new_key_pair()
    request = uuid.uuid4()

    await notify.apply(
        AccessRequested(
            access_request_id=request,
            household_id=registered.household_id,
            resident_id=me,
            public_key=public,
            requested_at=NOW,
        )
    )

    [answer] = await _answers(database)
    assert answer.access_request_id == request and answer.record_count == 3
    opened = open_sealed(private, answer.records_sealed, access_context(request, "notify"))
    records = AccessRecords.model_validate_json(opened).records
    assert [r.category for r in records] == ["household_membership", "recipient", "notice"]
    assert records[0].what["resident_id"] == str(me)
    assert records[2].what["body"] and all(r.purpose and r.retention for r in records)
    assert "zhang@example.cn" not in answer.model_dump_json()  # sealed, never in clear


async def test_a_resident_notify_does_not_know_gets_an_answer_with_no_records(
    notify: Notify, database: Database
) -> None:
    private, public = new_key_pair()
    request, stranger = uuid.uuid4(), uuid.uuid4()

    await notify.apply(
        AccessRequested(
            access_request_id=request,
            household_id=uuid.uuid4(),
            resident_id=stranger,
            public_key=public,
            requested_at=NOW,
        )
    )

    [answer] = await _answers(database)
    assert answer.record_count == 0
    opened = open_sealed(private, answer.records_sealed, access_context(request, "notify"))
    assert AccessRecords.model_validate_json(opened).records == []
