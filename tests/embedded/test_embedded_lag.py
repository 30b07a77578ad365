"""In the single-process mode the APIs measure lag and backlog too: from the embedded event
log's committed offsets and the services' SQLite outboxes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import REGISTRY
from typer.testing import CliRunner

from linli.cli import app
from linli_credit.app import DEFINITION, create_app
from linli_credit.settings import CreditSettings
from linli_shared.messaging.embedded import EmbeddedTransport
from linli_shared.messaging.records import OutgoingRecord
from linli_shared.migrations import upgrade
from linli_shared.settings import PlatformSettings
from tests.support.polling import eventually

WAITING = 4


def _group_lag(group: str) -> float | None:
    values = [
        sample.value
        for family in REGISTRY.collect()
        if family.name == "linli_consumer_lag"
        for sample in family.samples
        if sample.labels["group"] == group
    ]
    return sum(values) if values else None


async def test_an_embedded_api_reports_its_groups_lag_from_the_event_log(tmp_path: Path) -> None:
    log = tmp_path / "events.db"
    producer = EmbeddedTransport(log, "registry-relay")
    await producer.start()
    try:
        await producer.send(
            [
                OutgoingRecord(topic="linli.registry.v1", key=f"household-{n}", value=b"{}")
                for n in range(WAITING)
            ]
        )
    finally:
        await producer.stop()
    database_url = f"sqlite:///{tmp_path / 'credit.db'}"
    await asyncio.to_thread(upgrade, DEFINITION.migrations_dir, database_url)
    settings = CreditSettings(
        database_url=database_url,
        platform=PlatformSettings(
            transport="embedded", embedded_log_path=log, backlog_probe_interval_seconds=0.1
        ),
    )
    api = create_app(settings)

    async def measured() -> bool:
        return _group_lag("linli-credit") == WAITING and (
            REGISTRY.get_sample_value("linli_outbox_backlog", {"service": "credit"}) == 0
        )

    async with api.router.lifespan_context(api):  # no worker runs: nothing consumes
        await eventually(measured, "credit's lag and backlog measured by its API", within=30)


def test_linli_consumers_lag_tells_an_operator_what_waits_per_partition(tmp_path: Path) -> None:
    log = tmp_path / "events.db"

    async def produce() -> None:
        producer = EmbeddedTransport(log, "registry-relay", partitions=1)
        await producer.start()
        try:
            await producer.send(
                [OutgoingRecord(topic="linli.registry.v1", key="h", value=b"{}")] * WAITING
            )
        finally:
            await producer.stop()

    asyncio.run(produce())
    result = CliRunner().invoke(
        app,
        ["consumers", "lag", "credit"],
        env={
            "LINLI_TRANSPORT": "embedded",
            "LINLI_EMBEDDED_LOG_PATH": str(log),
            "LINLI_CREDIT_DATABASE_URL": f"sqlite:///{tmp_path / 'credit.db'}",
        },
    )

    assert result.exit_code == 0, result.output
    assert f"linli-credit  linli.registry.v1[0]  committed=0  end={WAITING}  lag={WAITING}" in (
        result.output
    )
    assert f"credit: {WAITING} record(s) waiting" in result.output
