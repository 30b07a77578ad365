"""Upgrading from every released head: docs/operations.md's "Upgrade and migrate", step by step.

For each release and each service, a database that the release's own migration scripts (taken
from git) brought to its head, holding rows written in the release's schema, is upgraded with
today's migrations; today's repositories then read those rows.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import tarfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from conftest import CreateDatabase
from linli_credit.adapters.repository import LedgerRepository
from linli_credit.app import DEFINITION as CREDIT
from linli_inspections.adapters.repository import InspectionRepository, RectificationRepository
from linli_inspections.app import DEFINITION as INSPECTIONS
from linli_notify.adapters.repository import NoticeRepository
from linli_notify.app import DEFINITION as NOTIFY
from linli_notify.settings import NotifySettings
from linli_registry.adapters.repository import HouseholdRepository
from linli_registry.app import DEFINITION as REGISTRY
from linli_registry.settings import RegistrySettings
from linli_shared.db import Database
from linli_shared.migrations import Revisions, current_revisions, upgrade
from linli_shared.service import ServiceDefinition

ROOT = Path(__file__).resolve().parents[2]
SERVICES: dict[str, ServiceDefinition] = {
    "registry": REGISTRY,
    "inspections": INSPECTIONS,
    "credit": CREDIT,
    "notify": NOTIFY,
}


@dataclass(frozen=True)
class Release:
    commit: str
    heads: dict[str, str]  # service -> its migrations' head in that release


# The commits that landed on main at the end of each earlier session. Session 1's is the last
# commit before the first of session 2 (3305d7a, 2026-11-28 23:39, after a 48-minute gap in
# `git log main`; every later commit builds on the session-1 tree); the others are main's heads.
RELEASES: dict[str, Release] = {
    "session-1": Release(
        "b938dbfb1e038f8cf3d148e49b1c05b5b3fe1082",
        {
            "registry": "997eda1291e0",
            "inspections": "e27df306dc26",
            "credit": "1a4bd5202ec1",
            "notify": "4fe594665020",
        },
    ),
    "session-2": Release(
        "4b480a75745303a24612aa7d915c2c7e9337ec56",
        {
            "registry": "5b0e3c2a9f41",
            "inspections": "ae3ea81feb2a",
            "credit": "511c1c4a7b71",
            "notify": "4fe594665020",
        },
    ),
    "session-3": Release(
        "d8b4925a95059b230164c0d78a3e1f18ed1f364f",
        {
            "registry": "c1a5e0d7b201",
            "inspections": "c1a5e0d7b202",
            "credit": "c1a5e0d7b203",
            "notify": "c1a5e0d7b204",
        },
    ),
}

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _migrations_path(service: str) -> str:
    return f"services/{service}/src/linli_{service}/migrations"


@pytest.fixture(scope="module")
def released_migrations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Per release, a folder holding its services' migration scripts as that commit had them."""
    folders: dict[str, Path] = {}
    for name, release in RELEASES.items():
        archive = subprocess.run(
            ["git", "archive", "--format=tar", release.commit, "--"]
            + [_migrations_path(service) for service in SERVICES],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        folder = tmp_path_factory.mktemp(name)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        folders[name] = folder
    return folders


def _scripts(migrations_dir: Path) -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    return ScriptDirectory.from_config(config)


@pytest.mark.parametrize("release", RELEASES)
def test_every_released_revision_is_still_in_todays_chain_with_the_same_parent(
    release: str, released_migrations: dict[str, Path]
) -> None:
    for service, definition in SERVICES.items():
        old = _scripts(released_migrations[release] / _migrations_path(service))
        today = _scripts(definition.migrations_dir)
        assert sorted(old.get_heads()) == [RELEASES[release].heads[service]], service
        for revision in old.walk_revisions():
            kept = today.get_revision(revision.revision)
            assert kept is not None, f"{service}: released revision {revision.revision} dropped"
            assert kept.down_revision == revision.down_revision, (
                f"{service}: released revision {revision.revision} rewritten"
            )


# --- rows written in a release's schema: the session-1 columns (every later release keeps them)
# and, where a release made a new column required, what that release's code wrote in it -------

HOUSEHOLD = uuid.UUID("00000000-0000-4000-8000-000000000001")
SUBJECT = uuid.UUID("00000000-0000-4000-8000-000000000002")
INSPECTION = uuid.UUID("00000000-0000-4000-8000-000000000003")
CASE = uuid.UUID("00000000-0000-4000-8000-000000000004")
ENTRY = uuid.UUID("00000000-0000-4000-8000-000000000005")
RECIPIENT = uuid.UUID("00000000-0000-4000-8000-000000000006")
NOTICE = uuid.UUID("00000000-0000-4000-8000-000000000007")
ENDPOINT = uuid.UUID("00000000-0000-4000-8000-000000000008")
ID_NUMBER = "110101199001011234"
PHONE = "+8613800000000"
WEBHOOK_SECRET = "whsec-released-in-clear"


async def _has_column(connection: AsyncConnection, table: str, column: str) -> bool:
    found = await connection.execute(
        text(
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_schema = current_schema() "
            "AND table_name = :table AND column_name = :column"
        ),
        {"table": table, "column": column},
    )
    return found.first() is not None


async def _fill_registry(connection: AsyncConnection) -> None:
    cipher = RegistrySettings().cipher()
    await connection.execute(
        text(
            "INSERT INTO households (id, community_id, grid_id, address, contact_email, "
            "contact_phone_enc, registered_at, version) "
            "VALUES (:id, 'c-1', 'g-1', '1 Elm Lane', 'family@example.org', :phone, :at, 1)"
        ),
        {"id": HOUSEHOLD, "phone": cipher.encrypt(PHONE), "at": NOW},
    )
    # From session 2 every member carries a resident id its code assigned at registration.
    resident = ", resident_id" if await _has_column(connection, "members", "resident_id") else ""
    ids = ", gen_random_uuid()" if resident else ""
    await connection.execute(
        text(
            "INSERT INTO members (household_id, position, name, relation, birth_date, "
            f"id_number_enc, id_number_index, id_tail{resident}) VALUES "
            f"(:id, 0, 'Wang Fang', 'head', '1990-01-01', :enc, :index, '1234'{ids}), "
            f"(:id, 1, 'Wang Lei', 'child', NULL, NULL, NULL, NULL{ids})"
        ),
        {
            "id": HOUSEHOLD,
            "enc": cipher.encrypt(ID_NUMBER),
            "index": cipher.blind_index(ID_NUMBER),
        },
    )


async def _read_registry(connection: AsyncConnection) -> None:
    household = await HouseholdRepository(connection, RegistrySettings().cipher()).get(HOUSEHOLD)
    assert household is not None
    assert household.contact_phone == PHONE
    assert [(m.name, m.relation) for m in household.members] == [
        ("Wang Fang", "head"),
        ("Wang Lei", "child"),
    ]
    assert household.members[0].id_number == ID_NUMBER
    assert all(member.resident_id is not None for member in household.members)


async def _fill_inspections(connection: AsyncConnection) -> None:
    values = {"inspection": INSPECTION, "case": CASE, "subject": SUBJECT, "at": NOW}
    await connection.execute(
        text(
            "INSERT INTO inspections (id, subject_id, subject_kind, checklist, inspector_id, "
            "inspected_at, outcome, severity, comply_by) VALUES (:inspection, :subject, "
            "'household', 'sanitation', 'inspector-1', :at, 'failed', 'general', :by)"
        ),
        values | {"by": NOW + timedelta(days=7)},
    )
    await connection.execute(
        text(
            "INSERT INTO findings (inspection_id, position, item, passed, severity, note) "
            "VALUES (:inspection, 0, 'bins covered', false, 'general', 'lid missing')"
        ),
        values,
    )
    await connection.execute(
        text(
            "INSERT INTO rectifications (id, inspection_id, subject_id, subject_kind, checklist, "
            "severity, comply_by, failed_findings, requested_at, status, escalation) VALUES "
            "(:case, :inspection, :subject, 'household', 'sanitation', 'general', :by, "
            "CAST(:failed AS json), :at, 'open', 'none')"
        ),
        values
        | {
            "by": NOW + timedelta(days=7),
            "failed": '[{"item": "bins covered", "severity": "general", "note": "lid missing"}]',
        },
    )


async def _read_inspections(connection: AsyncConnection) -> None:
    inspection = await InspectionRepository(connection).get(INSPECTION)
    assert inspection is not None
    assert inspection.outcome.value == "failed"
    assert [finding.item for finding in inspection.findings] == ["bins covered"]
    assert inspection.comply_by == NOW + timedelta(days=7)  # the deadline it was recorded with
    case = await RectificationRepository(connection).get(CASE)
    assert case is not None
    assert case.status.value == "open"
    assert [finding.note for finding in case.failed_findings] == ["lid missing"]
    # Opened before the fair clock: no clock, its deadline stands, nobody told of it yet.
    assert (case.comply_clock, case.notified_at, case.comply_by) == (
        None,
        None,
        NOW + timedelta(days=7),
    )


async def _fill_credit(connection: AsyncConnection) -> None:
    await connection.execute(
        text(
            "INSERT INTO accounts (subject_id, subject_kind, score, grade, opened_at, balance, "
            "policy_version, community_id) "
            "VALUES (:subject, 'household', 95, 'A', :at, -5, '2026.1', 'c-1')"
        ),
        {"subject": SUBJECT, "at": NOW},
    )
    await connection.execute(
        text(
            "INSERT INTO entries (id, subject_id, points, reason_code, policy_version, "
            "source_event_id, severity, occurred_at, recorded_at) VALUES "
            "(:entry, :subject, -5, 'inspection.failed', '2026.1', 'evt-1', 'general', :at, :at)"
        ),
        {"entry": ENTRY, "subject": SUBJECT, "at": NOW},
    )


async def _read_credit(connection: AsyncConnection) -> None:
    ledger = LedgerRepository(connection)
    account = await ledger.account(SUBJECT)
    assert account is not None
    assert (account.score, account.grade, account.balance) == (95, "A", -5)
    assert [entry.id for entry in await ledger.entries_of(SUBJECT)] == [ENTRY]


async def _fill_notify(connection: AsyncConnection) -> None:
    values = {"recipient": RECIPIENT, "notice": NOTICE, "endpoint": ENDPOINT, "at": NOW}
    await connection.execute(
        text(
            "INSERT INTO recipients (id, name, email, address, locale) VALUES "
            "(:recipient, 'Wang Fang', 'family@example.org', '1 Elm Lane', 'zh-CN')"
        ),
        values,
    )
    await connection.execute(
        text(
            "INSERT INTO notices (id, recipient_id, notice_type, source_event_id, "
            "correlation_id, variables, status, attempts, created_at, next_attempt_at) VALUES "
            "(:notice, :recipient, 'rectification', 'evt-1', 'corr-1', "
            "CAST('{\"address\": \"1 Elm Lane\"}' AS json), 'pending', 0, :at, :at)"
        ),
        values,
    )
    # Released notify kept webhook signing secrets as they are; today's schema seals them.
    await connection.execute(
        text(
            "INSERT INTO webhook_endpoints (id, name, url, secrets, notice_types, enabled, "
            "consecutive_failures, created_at) VALUES (:endpoint, 'partner', "
            "'https://partner.example/hook', CAST(:secrets AS json), "
            "CAST('[\"rectification\"]' AS json), true, 0, :at)"
        ),
        values | {"secrets": f'["{WEBHOOK_SECRET}"]'},
    )


async def _read_notify(connection: AsyncConnection) -> None:
    notices = NoticeRepository(connection)
    recipient = await notices.recipient(RECIPIENT)
    assert recipient is not None
    assert recipient.email == "family@example.org"
    notice = await notices.get(NOTICE)
    assert notice is not None
    assert notice.recipient_id == RECIPIENT
    endpoint = await notices.endpoint(ENDPOINT)
    assert endpoint is not None
    assert endpoint.secrets != (WEBHOOK_SECRET,)
    cipher = NotifySettings().webhook_cipher()
    assert [cipher.decrypt(secret) for secret in endpoint.secrets] == [WEBHOOK_SECRET]


Step = Callable[[AsyncConnection], Awaitable[None]]
FIXTURES: dict[str, tuple[Step, Step]] = {
    "registry": (_fill_registry, _read_registry),
    "inspections": (_fill_inspections, _read_inspections),
    "credit": (_fill_credit, _read_credit),
    "notify": (_fill_notify, _read_notify),
}


async def _revisions(database: Database) -> set[str]:
    async with database.connect() as connection:
        return await current_revisions(connection)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("release", RELEASES)
async def test_a_database_at_a_released_head_upgrades_and_todays_code_reads_its_rows(
    release: str,
    service: str,
    released_migrations: dict[str, Path],
    create_database: CreateDatabase,
) -> None:
    url = await create_database(f"linli_upgrade_{service}")
    old = released_migrations[release] / _migrations_path(service)
    await asyncio.to_thread(upgrade, old, url)
    database = Database(url)
    try:
        assert await _revisions(database) == {RELEASES[release].heads[service]}
        fill, read = FIXTURES[service]
        async with database.transaction() as connection:
            await fill(connection)

        await asyncio.to_thread(upgrade, SERVICES[service].migrations_dir, url)

        today = Revisions.of(SERVICES[service].migrations_dir)
        assert await _revisions(database) == set(today.heads)
        async with database.connect() as connection:
            await read(connection)
    finally:
        await database.dispose()
