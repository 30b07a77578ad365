"""With a service's worker stopped, its consumer lag and another service's outbox backlog rise
on the /metrics of APIs that are still up: the numbers an on-call alert needs do not depend on
the process that is stuck."""

from __future__ import annotations

import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import bearer
from tests.support.platform import Platform
from tests.support.polling import eventually

ADMIN = bearer("admin")
STORIES = 3


@pytest.fixture
def platform_env(platform_env: dict[str, str]) -> dict[str, str]:
    return {**platform_env, "LINLI_BACKLOG_PROBE_INTERVAL_SECONDS": "0.5"}


async def _scrape(http: httpx.AsyncClient, url: str, metric: str, **labels: str) -> float | None:
    """The sum of the metric's samples matching `labels`; None when there is none."""
    text = (await http.get(f"{url}/metrics")).text
    values = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == metric and labels.items() <= sample.labels.items()
    ]
    return sum(values) if values else None


async def _register(http: httpx.AsyncClient, platform: Platform, number: int) -> str:
    response = await http.post(
        f"{platform.url('registry')}/v1/households",
        headers=ADMIN,
        json={
            "community_id": "c1",
            "grid_id": "g1",
            "address": f"和平路 {number} 号",
            "members": [{"name": "王芳", "relation": "head"}],
            "contact_email": f"wang.{uuid.uuid4().hex[:6]}@example.cn",
        },
    )
    assert response.status_code == 201, response.text
    household: str = response.json()["id"]
    return household


async def _fail_inspection(http: httpx.AsyncClient, platform: Platform, household: str) -> None:
    response = await http.post(
        f"{platform.url('inspections')}/v1/inspections",
        headers=ADMIN,
        json={
            "subject_id": household,
            "checklist": "sanitation",
            "findings": [{"item": "bins emptied daily", "passed": False, "severity": "light"}],
        },
    )
    assert response.status_code == 201, response.text


async def test_a_stopped_workers_lag_and_a_stopped_relays_backlog_rise_on_the_apis_metrics(
    platform: Platform, http: httpx.AsyncClient
) -> None:
    credit_api, inspections_api = platform.url("credit"), platform.url("inspections")
    await eventually(
        lambda: _scrape(http, credit_api, "linli_backlog_probe_success", source="consumers"),
        "the credit API to measure its consumer groups",
    )
    platform.workers["credit"].stop()
    platform.workers["inspections"].stop()

    for number in range(1, STORIES + 1):
        await _fail_inspection(http, platform, await _register(http, platform, number))

    async def credit_behind() -> float | None:
        lag = await _scrape(http, credit_api, "linli_consumer_lag", group="linli-credit")
        return lag if lag is not None and lag >= STORIES else None

    async def inspections_waiting() -> float | None:
        waiting = await _scrape(
            http, inspections_api, "linli_outbox_backlog", service="inspections"
        )
        return waiting if waiting is not None and waiting >= STORIES else None

    # Registered households reach Kafka (registry's worker runs) and wait for credit's group.
    assert await eventually(credit_behind, "credit's lag to show the households") >= STORIES
    # Failed inspections (with the cases they open) wait in inspections' outbox: no relay runs.
    assert await eventually(inspections_waiting, "the inspections outbox backlog") >= STORIES
    assert await _scrape(
        http, inspections_api, "linli_outbox_oldest_age_seconds", service="inspections"
    )

    platform.workers["credit"].start()

    async def credit_caught_up() -> bool:
        lag = await _scrape(http, credit_api, "linli_consumer_lag", group="linli-credit")
        return lag == 0

    await eventually(credit_caught_up, "credit's lag to fall back to zero", within=180)
