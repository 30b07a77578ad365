"""Inspectors' notes travel in events sealed under the joint key of the subject the inspection is
about and of each member of its household, never in clear (crypto-shredding, docs/privacy.md):
destroying any one of those keys leaves nothing that opens it. A destroyed household key lets no
note travel; a registry that cannot give a key fails the recording with 503 and nothing is
written."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from linli_inspections import app
from linli_inspections.adapters import tables
from linli_inspections.domain.inspection import Finding
from linli_inspections.domain.policy import InspectionPolicy
from linli_inspections.service import UseCases
from linli_inspections.service.notes import KeysUnavailable
from linli_inspections.settings import InspectionsSettings
from linli_shared.clock import FixedClock
from linli_shared.contracts import CATALOGUE, InspectionFailed, RectificationRequested, topics
from linli_shared.contracts.common import Severity
from linli_shared.contracts.registry import MemberV1
from linli_shared.crypto import SealBroken, Sealer, joint_key
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope
from linli_shared.subject_keys import SubjectKeyUnavailable
from services.inspections.tests.announced import announce, announce_household
from services.inspections.tests.announced import household as household_event
from tests.support.api import api_client, assert_problem
from tests.support.grid_scope import bearer_of
from tests.support.subject_keys import KeysForTests

NOTE = "王芳 13800138000 楼道堆物"
INSPECTOR = bearer_of(("admin",), subject="inspector-9")


class RegistryAway:
    def __init__(self) -> None:
        self.asked = 0

    async def key_of(self, subject_id: uuid.UUID) -> str | None:
        self.asked += 1
        raise SubjectKeyUnavailable("the registry is unreachable")

    async def keys_of(self, subject_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str | None]:
        self.asked += 1
        raise SubjectKeyUnavailable("the registry is unreachable")


async def _events(database: Database) -> list[InspectionFailed | RectificationRequested]:
    async with database.connect() as connection:
        rows = (
            await connection.execute(
                select(tables.outbox)
                .where(tables.outbox.c.topic == topics.INSPECTIONS)
                .order_by(tables.outbox.c.seq)
            )
        ).all()
    parsed = [Envelope.from_json(row.payload).parse(CATALOGUE) for row in rows]
    return [e for e in parsed if isinstance(e, InspectionFailed | RectificationRequested)]


async def _record(use_cases: UseCases, household: uuid.UUID, note: str | None = NOTE) -> None:
    await use_cases.recording.record_inspection(
        subject_id=household,
        checklist="sanitation",
        inspector_id="inspector-1",
        inspected_at=None,
        findings=[Finding("stairwells clear", False, Severity.GENERAL, note=note)],
    )


async def _announce_family(database: Database, household: uuid.UUID) -> list[uuid.UUID]:
    """The household with its head and spouse as residents; their ids in order."""
    residents = sorted([uuid.uuid4(), uuid.uuid4()])
    family = household_event(household).model_copy(
        update={
            "members": [
                MemberV1(name="", relation=relation, resident_id=resident)
                for relation, resident in zip(("head", "spouse"), residents, strict=True)
            ]
        }
    )
    await announce(database, family)
    return residents


async def test_a_note_travels_only_sealed_under_the_keys_of_the_household_and_every_member(
    use_cases: UseCases, database: Database, subject_keys: KeysForTests
) -> None:
    household = uuid.uuid4()
    members = await _announce_family(database, household)
    await _record(use_cases, household)

    failed, requested = await _events(database)
    for event in (failed, requested):
        [finding] = event.failed_findings
        assert (finding.note, finding.note_sealed) == (None, None)
        sealed = finding.note_sealed_jointly
        assert sealed is not None
        assert sealed.subjects == [household, *members]
        assert "王芳" not in sealed.sealed and "13800138000" not in sealed.sealed
        assert subject_keys.open_note(household, sealed) == NOTE
        with pytest.raises(SealBroken):  # copied into another household's event, it opens not
            subject_keys.open_note(uuid.uuid4(), sealed)
    stored = await use_cases.reads.get_inspection(failed.inspection_id)
    assert stored.findings[0].note == NOTE  # inspections keeps its own copy
    assert subject_keys.asked == 1  # the household's and both members' keys in one read


async def test_without_any_one_members_key_the_note_opens_under_no_remaining_keys(
    use_cases: UseCases, database: Database, subject_keys: KeysForTests
) -> None:
    household = uuid.uuid4()
    await _announce_family(database, household)
    await _record(use_cases, household)
    [failed, _] = await _events(database)
    sealed = failed.failed_findings[0].note_sealed_jointly
    assert sealed is not None

    for erased in sealed.subjects:
        kept = [s for s in sealed.subjects if s != erased]
        keys = [k for s in kept if (k := subject_keys.keys[s]) is not None]
        candidates = [*keys, joint_key(keys, [str(s) for s in kept])]
        for key in candidates:  # each remaining key, and all of them joined
            with pytest.raises(SealBroken):
                Sealer([key]).open(str(household), sealed.sealed)


async def test_an_erased_member_whose_key_is_gone_is_left_out_and_the_note_still_travels(
    use_cases: UseCases, database: Database, subject_keys: KeysForTests
) -> None:
    household = uuid.uuid4()
    head, spouse = await _announce_family(database, household)
    subject_keys.destroy(spouse)  # erased; inspections has not heard the members list yet
    await _record(use_cases, household)

    [failed, _] = await _events(database)
    sealed = failed.failed_findings[0].note_sealed_jointly
    assert sealed is not None and sealed.subjects == [household, head]
    assert subject_keys.open_note(household, sealed) == NOTE


async def test_a_member_the_registry_holds_no_key_for_is_left_out_and_the_note_still_travels(
    use_cases: UseCases, database: Database, subject_keys: KeysForTests
) -> None:
    household = uuid.uuid4()
    head, spouse = await _announce_family(database, household)
    subject_keys.unknown.add(head)
    await _record(use_cases, household)

    [failed, _] = await _events(database)
    sealed = failed.failed_findings[0].note_sealed_jointly
    assert sealed is not None and sealed.subjects == [household, spouse]
    assert subject_keys.open_note(household, sealed) == NOTE


async def test_a_household_the_registry_holds_no_key_for_lets_no_note_travel(
    use_cases: UseCases, database: Database, subject_keys: KeysForTests
) -> None:
    household = uuid.uuid4()
    await _announce_family(database, household)
    subject_keys.unknown.add(household)
    await _record(use_cases, household)

    [failed, _] = await _events(database)
    [finding] = failed.failed_findings
    assert (finding.note, finding.note_sealed, finding.note_sealed_jointly) == (None,) * 3


async def test_a_destroyed_household_key_lets_no_note_travel_and_the_inspection_is_recorded(
    use_cases: UseCases, database: Database, subject_keys: KeysForTests
) -> None:
    household = uuid.uuid4()
    await _announce_family(database, household)
    subject_keys.destroy(household)
    await _record(use_cases, household)

    failed, requested = await _events(database)
    for event in (failed, requested):
        [finding] = event.failed_findings
        assert (finding.note, finding.note_sealed, finding.note_sealed_jointly) == (None,) * 3


async def test_without_a_note_the_registry_is_not_asked(
    database: Database, clock: FixedClock
) -> None:
    away = RegistryAway()
    use_cases = app.build_use_cases(database, clock, InspectionPolicy(), subject_keys=away)
    household = uuid.uuid4()
    await announce_household(database, household)
    await _record(use_cases, household, note=None)

    assert away.asked == 0
    assert len(await _events(database)) == 2


async def test_a_registry_that_cannot_give_the_key_fails_the_recording_and_writes_nothing(
    database: Database, clock: FixedClock
) -> None:
    use_cases = app.build_use_cases(
        database, clock, InspectionPolicy(), subject_keys=RegistryAway()
    )
    household = uuid.uuid4()
    await announce_household(database, household)
    with pytest.raises(KeysUnavailable) as raised:
        await _record(use_cases, household)

    assert raised.value.status == 503
    assert await _events(database) == []
    async with database.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(tables.inspections)) == 0


@pytest.fixture
async def away_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = InspectionsSettings(database_url=database_url)
    async with api_client(app.create_app(settings, RegistryAway()), "i") as c:
        yield c


async def test_over_http_an_unreachable_registry_is_503_problem_and_the_device_sends_again(
    away_client: httpx.AsyncClient, client: httpx.AsyncClient, database_url: str
) -> None:
    household = uuid.uuid4()
    await announce_household(database_url, household)
    inspection = {
        "id": str(uuid.uuid4()),
        "subject_id": str(household),
        "checklist": "sanitation",
        "inspected_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "findings": [{"item": "stairwells clear", "passed": False, "note": NOTE}],
    }
    refused = await away_client.post("/v1/inspections", json=inspection, headers=INSPECTOR)
    assert_problem(refused, 503, "subject-key-unavailable")
    batch = await away_client.post(
        "/v1/inspections/batch", json={"inspections": [inspection]}, headers=INSPECTOR
    )
    assert_problem(batch, 503, "subject-key-unavailable")
    missing = await client.get(f"/v1/inspections/{inspection['id']}", headers=INSPECTOR)
    assert missing.status_code == 404

    again = await client.post("/v1/inspections", json=inspection, headers=INSPECTOR)
    assert again.status_code == 201, again.text
    assert again.json()["findings"][0]["note"] == NOTE
