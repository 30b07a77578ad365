"""Access and copy under `linli run` (docs/privacy.md): an access request is answered by every
service through the embedded event log, and the log holds none of what the answers carried in
clear (they are sealed to the request's key)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from linli.embedded import EVENT_LOG_FILE
from linli_shared.auth import mint_dev_token
from linli_shared.settings import PlatformSettings
from tests.embedded.test_first_run import LinliRun
from tests.support.infra import free_port
from tests.support.polling import eventually

pytestmark = pytest.mark.servers  # runs `linli run` as a process of its own

STAFF = {"Authorization": f"Bearer {mint_dev_token(PlatformSettings(), 'staff', ['admin'])}"}
EMAIL = "dongfang.mingyue@example.cn"
HOUSEHOLD: dict[str, Any] = {
    "community_id": "c-access",
    "grid_id": "g-access",
    "address": "东方路 12 号 1 栋 101",
    "members": [{"name": "东方明月", "relation": "head", "phone": "13977770001"}],
    "contact_email": EMAIL,
}


@pytest.fixture
def linli_run(tmp_path: Path) -> Iterator[LinliRun]:
    run = LinliRun(free_port(), tmp_path / "data", tmp_path / "linli.log").start()
    yield run
    run.kill()


async def test_every_service_answers_an_access_request_through_the_embedded_log(
    tmp_path: Path, linli_run: LinliRun
) -> None:
    data_dir, run = tmp_path / "data", linli_run
    await asyncio.to_thread(run.wait_ready)
    async with httpx.AsyncClient(base_url=run.url, headers=STAFF, timeout=15) as http:
        registered = await http.post("/registry/v1/households", json=HOUSEHOLD)
        assert registered.status_code == 201, registered.text
        household = registered.json()["id"]
        resident = registered.json()["members"][0]["resident_id"]
        inspection = {
            "id": str(uuid.uuid4()),
            "subject_id": household,
            "checklist": "sanitation",
            "findings": [{"item": "no-exposed-garbage", "passed": False}],
        }

        async def recorded() -> bool:
            answer = await http.post("/inspections/v1/inspections", json=inspection)
            return answer.status_code in (200, 201)

        await eventually(recorded, "inspections to know the household")

        async def told() -> bool:
            copy = await http.get(f"/notify/v1/residents/{resident}/data-copy")
            return copy.status_code == 200 and bool(copy.json()["notices"])

        await eventually(told, "notify to hold the household's notice", within=120)

        started = await http.post(
            "/registry/v1/access-requests", json={"resident_id": resident, "reason": "本人申请"}
        )
        assert started.status_code == 202, started.text
        url = f"/registry/v1/access-requests/{started.json()['id']}"

        async def completed() -> bool:
            return bool((await http.get(url)).json()["status"] == "completed")

        await eventually(completed, "every service to answer", within=60)
        export = (await http.get(f"{url}/export")).json()
        services = {r["service"] for r in export["records"]}
        assert services == {"registry", "inspections", "credit", "notify"}
        assert any(EMAIL in str(r["what"]) for r in export["records"] if r["service"] == "notify")
    assert run.terminate() == 0
    blob = b"".join(p.read_bytes() for p in data_dir.glob(f"{EVENT_LOG_FILE}*"))
    assert EMAIL.encode() not in blob and b"13977770001" not in blob
