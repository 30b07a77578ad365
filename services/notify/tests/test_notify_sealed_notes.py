"""Inspectors' notes arrive sealed under the key of the inspection's subject (crypto-shredding,
docs/privacy.md): notify opens them for the rectification notice; under a destroyed key a note is
no note; one sealed for another subject is refused."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from linli_notify.app import build_use_cases
from linli_notify.service import UseCases
from linli_shared.clock import FixedClock
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.contracts.inspections import FailedFindingV1, InspectionFailed
from linli_shared.db import Database
from linli_shared.messaging.envelope import MalformedEvent
from linli_shared.pagination import PageRequest
from services.notify.tests.notify_support import apply, settings_for
from services.notify.tests.test_notify_subject_keys import NOW, RegistryKeys, registered


@pytest.fixture
def registry() -> RegistryKeys:
    return RegistryKeys()


@pytest.fixture
def notify(database: Database, registry: RegistryKeys) -> UseCases:
    settings = settings_for(database, registry_cache_seconds=0)
    return build_use_cases(database, settings, FixedClock(NOW), subject_keys=registry)


def _sealed_note_failed(
    registry: RegistryKeys, household: uuid.UUID, note: str
) -> InspectionFailed:
    """As inspections writes it since notes are sealed: `note` empty, `note_sealed` under the
    household's key."""
    return InspectionFailed(
        inspection_id=uuid.uuid4(),
        subject_id=household,
        subject_kind=SubjectKind.HOUSEHOLD,
        checklist="sanitation",
        inspected_at=NOW - timedelta(hours=1),
        severity=Severity.GENERAL,
        failed_findings=[
            FailedFindingV1(
                item="stairwells clear",
                severity=Severity.GENERAL,
                note_sealed=registry.seal(household, note=note),
            ),
            FailedFindingV1(item="no small ads", severity=Severity.LIGHT),
        ],
        comply_by=NOW + timedelta(days=3),
    )


async def _rectification_findings(notify: UseCases, household: uuid.UUID) -> list[dict[str, Any]]:
    [notice] = (await notify.reads.notices_for(household, PageRequest())).items
    findings = notice.variables["findings"]
    assert isinstance(findings, list)
    return findings


async def test_an_inspectors_sealed_note_opens_under_the_households_key_for_the_notice(
    notify: UseCases, database: Database, registry: RegistryKeys
) -> None:
    household = uuid.uuid4()
    await apply(notify, database, registered(registry, household, uuid.uuid4(), uuid.uuid4()))
    await apply(notify, database, _sealed_note_failed(registry, household, "李四 13800138000"))

    findings = await _rectification_findings(notify, household)
    assert [(f["item"], f["note"]) for f in findings] == [
        ("stairwells clear", "李四 13800138000"),
        ("no small ads", None),
    ]
    assert all("note_sealed" not in f for f in findings)


async def test_a_note_sealed_under_a_destroyed_key_is_no_note(
    notify: UseCases, database: Database, registry: RegistryKeys
) -> None:
    household = uuid.uuid4()
    await apply(notify, database, registered(registry, household, uuid.uuid4(), uuid.uuid4()))
    event = _sealed_note_failed(registry, household, "李四 13800138000")
    registry.destroy(household)
    await apply(notify, database, event)  # applied, not dead-lettered

    findings = await _rectification_findings(notify, household)
    assert [f["note"] for f in findings] == [None, None]


async def test_a_note_sealed_for_another_household_is_refused(
    notify: UseCases, database: Database, registry: RegistryKeys
) -> None:
    household, other = uuid.uuid4(), uuid.uuid4()
    registry.key(household)
    copied = _sealed_note_failed(registry, other, "李四").model_copy(
        update={"subject_id": household}
    )
    with pytest.raises(MalformedEvent):
        await apply(notify, database, copied)
