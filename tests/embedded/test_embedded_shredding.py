"""Crypto-shredding under `linli run` (docs/privacy.md): notify and inspections get the subject
keys from the registry in the same process; the embedded event log holds no personal data in
clear (an inspector's note naming the head included: sealed, and opened for the notice); once a
household's key is destroyed, what the log holds of it opens nowhere, and what notify learns
afterwards of the household carries none of it."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from linli.embedded import EVENT_LOG_FILE, MAIL_DIR, service_database_url
from linli_notify.adapters.tables import recipients
from linli_registry.adapters.subject_keys import SubjectKeys
from linli_registry.settings import RegistrySettings
from linli_shared.auth import mint_dev_token
from linli_shared.clock import SystemClock
from linli_shared.db import Database
from linli_shared.settings import PlatformSettings
from tests.embedded.test_first_run import LinliRun
from tests.support.infra import free_port
from tests.support.polling import eventually

pytestmark = pytest.mark.servers  # runs `linli run` as a process of its own

STAFF = {"Authorization": f"Bearer {mint_dev_token(PlatformSettings(), 'staff', ['admin'])}"}
HOUSEHOLD: dict[str, Any] = {
    "community_id": "c-shred",
    "grid_id": "g-shred",
    "address": "长寿路 88 号 8 栋 808",
    "members": [{"name": "慕容复兴", "relation": "head", "phone": "13988880001"}],
    "contact_email": "murong.fuxing@example.cn",
    "contact_phone": "13988880002",
}
PERSONAL = ["长寿路 88 号 8 栋 808", "慕容复兴", "13988880001", "13988880002", "murong.fuxing"]
NOTE = "慕容复兴（13988880001）门口堆放杂物"


def _in_clear(data_dir: Path) -> list[str]:
    """The personal values the event log's files hold in clear (raw or JSON-escaped)."""
    blob = b"".join(p.read_bytes() for p in data_dir.glob(f"{EVENT_LOG_FILE}*"))
    return [
        value
        for value in PERSONAL
        if value.encode() in blob or json.dumps(value)[1:-1].encode() in blob
    ]


def _body(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


def _mails_to(data_dir: Path, address: str) -> list[Path]:
    return [p for p in (data_dir / MAIL_DIR).glob("*.eml") if address.encode() in p.read_bytes()]


@pytest.fixture
def linli_run(tmp_path: Path) -> Iterator[LinliRun]:
    run = LinliRun(free_port(), tmp_path / "data", tmp_path / "linli.log").start()
    yield run
    run.kill()


async def test_the_embedded_log_holds_nothing_in_clear_nor_anything_new_of_an_erased_household(
    tmp_path: Path, linli_run: LinliRun
) -> None:
    data_dir, run = tmp_path / "data", linli_run
    await asyncio.to_thread(run.wait_ready)
    async with httpx.AsyncClient(base_url=run.url, headers=STAFF, timeout=15) as http:
        registered = await http.post("/registry/v1/households", json=HOUSEHOLD)
        assert registered.status_code == 201, registered.text
        household = registered.json()["id"]
        inspection = {
            "id": str(uuid.uuid4()),
            "subject_id": household,
            "checklist": "sanitation",
            "findings": [{"item": "no-exposed-garbage", "passed": False, "note": NOTE}],
        }

        async def recorded() -> bool:
            answer = await http.post("/inspections/v1/inspections", json=inspection)
            return answer.status_code in (200, 201)

        await eventually(recorded, "inspections to know the household")

        # Notify opened the sealed contact with the key it got in-process: the notice went out.
        async def mailed() -> bool:
            return bool(_mails_to(data_dir, HOUSEHOLD["contact_email"]))

        await eventually(mailed, "the rectification notice by e-mail", within=120)
        assert any(NOTE in _body(p) for p in _mails_to(data_dir, HOUSEHOLD["contact_email"]))
        assert _in_clear(data_dir) == []

        registry = Database(service_database_url(data_dir, "registry"))
        try:
            keys = SubjectKeys(registry, RegistrySettings().cipher(), SystemClock())
            destroyed = await keys.destroy(uuid.UUID(household), "household")
            # Everything the log holds under it opens nowhere: the key is gone from the registry.
            assert destroyed.key is None and (await keys.find(destroyed.subject_id)) == destroyed
        finally:
            await registry.dispose()
        # A move after the erasure: notify learns the new grid, and no address at all.
        moved = await http.post(
            f"/registry/v1/households/{household}/move",
            json={"version": 1, "grid_id": "g-shred", "address": "长寿路 99 号"},
        )
        assert moved.status_code == 200, moved.text

        async def notify_has_no_address() -> bool:
            row = await _recipient(data_dir, household)
            return row is not None and row.grid_id == "g-shred" and row.address is None

        await eventually(notify_has_no_address, "notify to apply the move", within=60)
    assert run.terminate() == 0
    row = await _recipient(data_dir, household)
    assert row is not None and row.email == HOUSEHOLD["contact_email"]  # learnt before erasure
    blob = b"".join(p.read_bytes() for p in data_dir.glob(f"{EVENT_LOG_FILE}*"))
    assert _in_clear(data_dir) == [] and "长寿路 99 号".encode() not in blob


async def _recipient(data_dir: Path, household: str) -> Any:
    notify = Database(service_database_url(data_dir, "notify"))
    try:
        async with notify.connect() as connection:
            return (
                await connection.execute(
                    select(recipients).where(recipients.c.id == uuid.UUID(household))
                )
            ).one_or_none()
    finally:
        await notify.dispose()
