"""The reads benchmark's floor does the read it stands for: a round trip to the account."""

from __future__ import annotations

import uuid

import httpx
import pytest

from bench import _reads_seed as seed
from bench import _reads_support as support
from bench._reads_server import floor_app
from conftest import MigratedDatabase
from linli_credit.app import DEFINITION

pytestmark = pytest.mark.servers


async def test_the_floor_reads_the_account_it_is_asked_for(
    migrated_database: MigratedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await migrated_database(DEFINITION)
    connection = await support.connect(url)
    try:
        await seed.add_ledger(connection, 0, seed.ENTRIES_PER_SUBJECT)
    finally:
        await connection.close()
    monkeypatch.setenv("LINLI_CREDIT_DATABASE_URL", url)
    app = floor_app()

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        known = await client.get(f"/floor/{seed.subject_id(0)}")
        unknown = await client.get(f"/floor/{uuid.uuid4()}")

    assert known.json() == {"found": True}
    assert unknown.json() == {"found": False}
