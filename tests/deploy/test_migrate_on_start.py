"""Every API and worker pod migrates its database before it starts (an init container running
`linli migrate <service>`), so migrators meet: one upgrades at a time, the next finds nothing to do.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from conftest import CreateDatabase
from linli_credit.app import DEFINITION as CREDIT
from linli_shared.migrations import MIGRATION_LOCK, is_current, upgrade
from tests.deploy.manifests import OVERLAYS, SERVICE_NAMES, named, of_kind, pod_spec
from tests.support.polling import eventually


async def _connect(url: str) -> asyncpg.Connection:
    parts = make_url(url)
    connection: asyncpg.Connection = await asyncpg.connect(
        host=parts.host,
        port=parts.port,
        user=parts.username,
        password=parts.password,
        database=parts.database,
    )
    return connection


async def test_a_migrator_waits_while_another_holds_the_migration_lock(
    create_database: CreateDatabase,
) -> None:
    url = await create_database("linli_migrate_lock")
    other = await _connect(url)
    try:
        await other.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        migrating = asyncio.create_task(asyncio.to_thread(upgrade, CREDIT.migrations_dir, url))

        async def waiting_for_the_lock() -> bool:
            assert not migrating.done(), "it migrated while another migrator held the lock"
            waiting: int = await other.fetchval(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()"
            )
            return waiting == 1

        await eventually(waiting_for_the_lock, "the migrator to wait for the lock", within=60)
        assert not await is_current(CREDIT.migrations_dir, url)
        await other.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        await migrating
    finally:
        await other.close()
    assert await is_current(CREDIT.migrations_dir, url)
    # The next pod's migrator finds the database at head and changes nothing.
    await asyncio.to_thread(upgrade, CREDIT.migrations_dir, url)
    assert await is_current(CREDIT.migrations_dir, url)


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_every_pod_migrates_its_database_before_it_starts(overlay: str, service: str) -> None:
    for role in ("api", "worker"):
        spec = pod_spec(named(overlay, "Deployment", f"linli-{service}-{role}"))
        (init,) = spec["initContainers"]
        main = spec["containers"][0]
        assert init["args"] == ["migrate", service]
        assert init["image"] == main["image"]
        database = f"LINLI_{service.upper()}_DATABASE_URL"
        assert {"name": database, "valueFrom": {"secretKeyRef": {
            "name": f"linli-{service}-secret", "key": database}}} in init["env"]  # fmt: skip
    assert of_kind(overlay, "Job") == [], "nothing immutable to delete before an upgrade"
