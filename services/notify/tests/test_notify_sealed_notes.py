"""Inspectors' notes arrive sealed under the joint key of the inspection's subject and its
household's members (crypto-shredding, docs/privacy.md); events written before carry them under
the subject's key alone. Notify opens either for the rectification notice; when any key it needs
is destroyed a note is no note; one sealed for another subject is refused."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from linli_notify.app import build_use_cases
from linli_notify.service import UseCases
from linli_shared.clock import FixedClock
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.contracts.inspections import FailedFindingV1, InspectionFailed, JointlySealedV1
from linli_shared.crypto import Sealer, joint_key
from linli_shared.db import Database
from linli_shared.messaging.envelope import MalformedEvent
from linli_shared.messaging.processing import UnknownSubject
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


def _jointly_sealed(
    registry: RegistryKeys, subjects: list[uuid.UUID], note: str
) -> JointlySealedV1:
    ids = [str(subject) for subject in subjects]
    key = joint_key([registry.key(subject) for subject in subjects], ids)
    return JointlySealedV1(subjects=subjects, sealed=Sealer([key]).seal(ids[0], {"note": note}))


def _sealed_note_failed(
    registry: RegistryKeys, household: uuid.UUID, note: str, members: list[uuid.UUID] | None = None
) -> InspectionFailed:
    """As inspections writes it: `note` empty; with `members`, the note under the joint key of
    the household and its members (since jointly sealed notes), else in `note_sealed` under the
    household's key alone (events written before)."""
    sealed = (
        {"note_sealed_jointly": _jointly_sealed(registry, [household, *members], note)}
        if members is not None
        else {"note_sealed": registry.seal(household, note=note)}
    )
    return InspectionFailed(
        inspection_id=uuid.uuid4(),
        subject_id=household,
        subject_kind=SubjectKind.HOUSEHOLD,
        checklist="sanitation",
        inspected_at=NOW - timedelta(hours=1),
        severity=Severity.GENERAL,
        failed_findings=[
            FailedFindingV1(item="stairwells clear", severity=Severity.GENERAL, **sealed),
            FailedFindingV1(item="no small ads", severity=Severity.LIGHT),
        ],
        comply_by=NOW + timedelta(days=3),
    )


async def _rectification_findings(notify: UseCases, household: uuid.UUID) -> list[dict[str, Any]]:
    [notice] = (await notify.reads.notices_for(household, PageRequest())).items
    findings = notice.variables["findings"]
    assert isinstance(findings, list)
    return findings


async def test_a_jointly_sealed_note_opens_under_the_household_and_members_keys_for_the_notice(
    notify: UseCases, database: Database, registry: RegistryKeys
) -> None:
    household, head, spouse = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await apply(notify, database, registered(registry, household, head, spouse))
    note = "李四 13800138000"
    await apply(notify, database, _sealed_note_failed(registry, household, note, [head, spouse]))

    findings = await _rectification_findings(notify, household)
    assert [(f["item"], f["note"]) for f in findings] == [
        ("stairwells clear", note),
        ("no small ads", None),
    ]
    assert all("note_sealed" not in f and "note_sealed_jointly" not in f for f in findings)


async def test_a_jointly_sealed_notes_keys_are_read_at_once_and_an_unknown_one_is_refused(
    notify: UseCases, database: Database, registry: RegistryKeys
) -> None:
    household, head, spouse = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await apply(notify, database, registered(registry, household, head, spouse))
    event = _sealed_note_failed(registry, household, "李四 13800138000", [head, spouse])
    registry.reads = 0
    await apply(notify, database, event)
    assert registry.reads == 1  # the household's and both members' keys in one read

    stranger = uuid.uuid4()  # a member the registry holds no key for, as before: not yet known
    unknown = _sealed_note_failed(registry, household, "王芳", [head, stranger])
    del registry.keys[stranger]
    with pytest.raises(UnknownSubject) as refused:
        await apply(notify, database, unknown)
    assert refused.value.subject == stranger


async def test_a_note_sealed_before_joint_keys_still_opens_under_the_households_key(
    notify: UseCases, database: Database, registry: RegistryKeys
) -> None:
    household = uuid.uuid4()
    await apply(notify, database, registered(registry, household, uuid.uuid4(), uuid.uuid4()))
    await apply(notify, database, _sealed_note_failed(registry, household, "李四 13800138000"))

    findings = await _rectification_findings(notify, household)
    assert [f["note"] for f in findings] == ["李四 13800138000", None]


@pytest.mark.parametrize("erased", ["household", "head", "spouse"])
async def test_a_jointly_sealed_note_is_no_note_once_any_one_key_is_destroyed(
    notify: UseCases, database: Database, registry: RegistryKeys, erased: str
) -> None:
    subjects = {"household": uuid.uuid4(), "head": uuid.uuid4(), "spouse": uuid.uuid4()}
    household, head, spouse = subjects.values()
    await apply(notify, database, registered(registry, household, head, spouse))
    event = _sealed_note_failed(registry, household, "李四 13800138000", [head, spouse])
    registry.destroy(subjects[erased])
    await apply(notify, database, event)  # applied, not dead-lettered

    findings = await _rectification_findings(notify, household)
    assert [f["note"] for f in findings] == [None, None]


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


@pytest.mark.parametrize("joint", [False, True], ids=["household-key", "joint-key"])
async def test_a_note_sealed_for_another_household_is_refused(
    notify: UseCases, database: Database, registry: RegistryKeys, joint: bool
) -> None:
    household, other, member = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    registry.key(household)
    copied = _sealed_note_failed(registry, other, "李四", [member] if joint else None).model_copy(
        update={"subject_id": household}
    )
    with pytest.raises(MalformedEvent):
        await apply(notify, database, copied)


async def test_a_joint_note_listing_another_household_first_is_refused(
    notify: UseCases, database: Database, registry: RegistryKeys
) -> None:
    household, other = uuid.uuid4(), uuid.uuid4()
    registry.key(household)
    event = _sealed_note_failed(registry, household, "李四", [])
    [finding, plain] = event.failed_findings
    assert finding.note_sealed_jointly is not None
    relisted = finding.note_sealed_jointly.model_copy(update={"subjects": [other, household]})
    forged = event.model_copy(
        update={
            "failed_findings": [finding.model_copy(update={"note_sealed_jointly": relisted}), plain]
        }
    )
    with pytest.raises(MalformedEvent):
        await apply(notify, database, forged)
