"""Consumer throughput per service: events/s applied (with their database writes) by worker
processes, with 1, 2 and 4 partitions and as many replicas, one event per transaction (batch 1,
the old way) and batched (the default).

Baseline in the same run: a bare asyncpg loop making the same number of row writes per event
(counted from pg_stat_database while the service ran), one transaction per event, on the same
database, over as many connections as there are partitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bench.common import (
    STATE_ROOT,
    Report,
    TimingSmtpSink,
    asyncpg_dsn,
    console,
    create_database,
    drop_database,
    infrastructure,
    namespace,
    plot_lines,
    print_table,
    ratio,
    stage,
    track,
    wait_until,
    write_json,
)
from bench.events import household_registered, inspection_failed
from bench.profile import hot_spots, record
from linli_shared.messaging.kafka import KafkaTransport
from linli_shared.messaging.records import OutgoingRecord
from tests.support.platform import ServiceProcess

REGISTERED = "linli.registry.household.registered.v1"
FAILED = "linli.inspections.inspection.failed.v1"
# The event each service is measured on (registrations are its read model's feed).
MEASURED = {"inspections": REGISTERED, "credit": FAILED, "notify": FAILED}
PARTITIONS = (1, 2, 4)
BATCH_SIZES = (1, 100)  # 1: one transaction per event, as before batching


TARGET_SHARE = 0.5  # of bare asyncpg making the same writes


@dataclass(frozen=True)
class Plan:
    services: Sequence[str]
    events: int
    partitions: Sequence[int] = PARTITIONS


# Quick: one partition (scaling is the full run's question), so `--quick` as a whole stays
# under 10 minutes. 2,000 events: 600 were about six batches of 100, and the ratio to bare
# asyncpg moved from 53 % to 78 % between two runs five minutes apart.
QUICK = Plan(services=("credit",), events=2000, partitions=(1,))
FULL = Plan(services=("inspections", "credit", "notify"), events=3000)


@dataclass
class Measured:
    service: str
    partitions: int
    batch_size: int
    events: int
    events_per_s: float | None
    writes_per_event: float
    inserts_per_event: float
    updates_per_event: float
    commits_per_event: float
    baseline_per_s: float | None = None
    profile: dict[str, object] = field(default_factory=dict)

    def row(self) -> list[object]:
        return [
            self.service,
            self.partitions,
            self.batch_size,
            _round(self.events_per_s),
            round(self.writes_per_event, 1),
            round(self.commits_per_event, 2),
            _round(self.baseline_per_s),
            ratio(self.events_per_s, self.baseline_per_s),
        ]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def run(out_dir: Path, quick: bool) -> dict[str, object]:
    plan = QUICK if quick else FULL
    report = Report("consumers")
    results: list[Measured] = []
    with TimingSmtpSink() as sink:
        for service in plan.services:
            database_url = await create_database(f"bench_consumer_{service}")
            try:
                _migrate(service, database_url)
                for partitions in plan.partitions:
                    for batch_size in BATCH_SIZES:
                        with stage(f"{service}: {partitions} partition(s), batch {batch_size}"):
                            profile_to = (
                                out_dir / f"profile-{service}-batch{batch_size}.txt"
                                if partitions == 1
                                else None
                            )
                            measured = await _measure(
                                service,
                                database_url,
                                partitions,
                                batch_size,
                                plan.events,
                                sink,
                                profile_to,
                            )
                        measured.baseline_per_s = await _baseline(
                            database_url, measured, plan.events
                        )
                        console.print(f"  {measured.row()}")
                        results.append(measured)
            finally:
                with contextlib.suppress(Exception):
                    await drop_database(database_url)
    _summarise(report, results)
    _plot(out_dir / "consumers.png", results)
    payload = report.to_json()
    write_json(out_dir, "consumers", payload)
    return payload


COLUMNS = [
    "service",
    "partitions = replicas",
    "batch",
    "events/s",
    "row writes/event",
    "commits/event",
    "asyncpg baseline/s",
    "ratio",
]


def _summarise(report: Report, results: list[Measured]) -> None:
    report.figures = {"runs": [vars(m) for m in results]}
    print_table("consumers: events applied per second", COLUMNS, [m.row() for m in results])
    for m in results:
        libraries = m.profile.get("libraries")
        if isinstance(libraries, dict):
            rows = [[name, f"{share:.0%}"] for name, share in libraries.items()]
            title = f"profile: {m.service} worker, batch {m.batch_size} (share of samples)"
            print_table(title, ["on the stack", "share"], rows)
    for m in results:
        report.add_ratio(
            f"{m.service}_p{m.partitions}_batch{m.batch_size}_vs_asyncpg",
            ratio(m.events_per_s, m.baseline_per_s),
            f"{m.service} events/s ÷ bare asyncpg, same writes, one transaction per event, "
            f"{m.partitions} connection(s)",
        )
    shares = [
        (m.events_per_s / m.baseline_per_s, m)
        for m in results
        if m.events_per_s and m.baseline_per_s
    ]
    if shares:
        share, best = max(shares, key=lambda pair: pair[0])
        report.add_target(
            "consumer path vs bare asyncpg",
            f"≥ {TARGET_SHARE:.0%} of bare asyncpg making the same writes",
            f"{share:.0%}: {best.service}, {best.partitions} partition(s), batch "
            f"{best.batch_size}, {best.events_per_s:.0f} events/s",
            share >= TARGET_SHARE,
            f"bare asyncpg {best.baseline_per_s:.0f} events/s",
        )
    for service in {m.service for m in results}:
        by = {(m.partitions, m.batch_size): m.events_per_s for m in results if m.service == service}
        for batch in BATCH_SIZES:
            report.add_ratio(
                f"{service}_batch{batch}_scaling_4_vs_1",
                ratio(by.get((4, batch)), by.get((1, batch))),
                f"{service} events/s with 4 partitions and replicas ÷ with 1 (batch {batch})",
            )
        for partitions in PARTITIONS:
            report.add_ratio(
                f"{service}_p{partitions}_batched_vs_one_per_transaction",
                ratio(by.get((partitions, BATCH_SIZES[-1])), by.get((partitions, 1))),
                f"{service} events/s batched ÷ one transaction per event ({partitions} partitions)",
            )


def _plot(path: Path, results: list[Measured]) -> None:
    series: dict[str, tuple[list[float], list[float | None]]] = {}
    for m in results:
        xs, ys = series.setdefault(f"{m.service}, batch {m.batch_size}", ([], []))
        xs.append(m.partitions)
        ys.append(m.events_per_s)
    baseline: dict[int, float | None] = {}
    for m in results:
        baseline.setdefault(m.partitions, m.baseline_per_s)
    series["bare asyncpg, 1 event/transaction"] = (list(baseline), list(baseline.values()))
    plot_lines(path, "Consumer throughput", "partitions = worker replicas", "events/s", series)


def _migrate(service: str, database_url: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "linli", "migrate", service],
        env=_env(service, database_url),
        check=True,
        capture_output=True,
    )


def _env(service: str, database_url: str, **extra: str) -> dict[str, str]:
    import os

    return {
        **os.environ,
        "LINLI_ENVIRONMENT": "test",
        "LINLI_LOG_LEVEL": "WARNING",
        f"LINLI_{service.upper()}_DATABASE_URL": database_url,
        **extra,
    }


async def _measure(
    service: str,
    database_url: str,
    partitions: int,
    batch_size: int,
    events: int,
    sink: TimingSmtpSink,
    profile_to: Path | None,
) -> Measured:
    bootstrap = infrastructure().bootstrap
    space = namespace()
    households = [uuid.uuid4() for _ in range(events)]
    producer = KafkaTransport(bootstrap, "bench-producer", partitions=partitions, namespace=space)
    await producer.start()
    try:
        await producer.ensure_topics(["linli.registry.v1", "linli.inspections.v1"])
        registered = [household_registered(h, i) for i, h in enumerate(households)]
        await _send(producer, registered)
        env = _env(
            service,
            database_url,
            LINLI_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
            LINLI_KAFKA_NAMESPACE=space,
            LINLI_KAFKA_TOPIC_PARTITIONS=str(partitions),
            LINLI_CONSUMER_BATCH_SIZE=str(batch_size),
            LINLI_NOTIFY_SMTP_HOST="127.0.0.1",
            LINLI_NOTIFY_SMTP_PORT=str(sink.port),
        )
        with _workers(service, env, partitions) as workers:
            since = await _now(database_url)
            await _wait_applied(database_url, REGISTERED, since, events)
            measured_type = MEASURED[service]
            pid = workers[0].process.pid if workers[0].process else None
            profiler = record(pid, profile_to, 600) if profile_to and pid else None
            if measured_type == FAILED:
                since = await _now(database_url)
                before = await _stats(database_url)
                await _send(producer, [inspection_failed(h) for h in households])
            else:
                before = None
            await _wait_applied(database_url, measured_type, since, events)
            await asyncio.sleep(1.0)  # let the relay publish what the handlers wrote
            rate = await _rate(database_url, measured_type, since)
            after = await _stats(database_url)
    finally:
        await producer.stop()
    if profiler is not None:
        await asyncio.to_thread(profiler.wait, 60)  # py-spy writes when the worker has gone
    if before is None:
        before = {key: 0 for key in after}  # registrations: counted from the start
    delta = {key: after[key] - before[key] for key in after}
    return Measured(
        service=service,
        partitions=partitions,
        batch_size=batch_size,
        events=events,
        events_per_s=rate,
        writes_per_event=(delta["ins"] + delta["upd"] + delta["del"]) / events,
        inserts_per_event=delta["ins"] / events,
        updates_per_event=(delta["upd"] + delta["del"]) / events,
        commits_per_event=delta["commits"] / events,
        profile=hot_spots(profile_to) if profile_to else {},
    )


async def _send(producer: KafkaTransport, records: list[OutgoingRecord]) -> None:
    for start in range(0, len(records), 500):
        await producer.send(records[start : start + 500])


@contextlib.contextmanager
def _workers(service: str, env: dict[str, str], replicas: int) -> Iterator[list[ServiceProcess]]:
    STATE_ROOT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=STATE_ROOT) as work_dir:
        workers = [
            ServiceProcess(
                f"{service}-worker-{i}",
                ["worker", service],
                env,
                Path(work_dir) / f"{service}-worker-{i}.log",
                forked=False,  # started anew, as on a pod
            )
            for i in range(replicas)
        ]
        for worker in workers:
            worker.start()
            track(worker.process)
        try:
            yield workers
        finally:
            for worker in workers:
                worker.stop()


async def _fetchval(database_url: str, query: str, *args: object) -> object:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


async def _now(database_url: str) -> object:
    return await _fetchval(database_url, "SELECT clock_timestamp()")


async def _wait_applied(database_url: str, event_type: str, since: object, count: int) -> None:
    async def done() -> bool:
        applied = await _fetchval(
            database_url,
            "SELECT count(*) FROM inbox WHERE event_type = $1 AND processed_at >= $2",
            event_type,
            since,
        )
        return isinstance(applied, int) and applied >= count

    if not await wait_until(done, within=300, interval=0.5):
        raise TimeoutError(f"{count} {event_type} not applied within 300 s")


async def _rate(database_url: str, event_type: str, since: object) -> float | None:
    """Events per second from the first claim to the last (worker start-up not counted).

    A batch's events are claimed at its transaction's start (`now()`), so the last claim is
    when the last batch began: the events counted are those claimed before it. (Counting them
    all, over six batches, added a sixth.)"""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        row = await connection.fetchrow(
            "WITH measured AS (SELECT processed_at FROM inbox "
            "WHERE event_type = $1 AND processed_at >= $2) "
            "SELECT count(*) FILTER (WHERE processed_at < (SELECT max(processed_at) "
            "FROM measured)) AS n, "
            "extract(epoch FROM max(processed_at) - min(processed_at)) AS s FROM measured",
            event_type,
            since,
        )
    finally:
        await connection.close()
    if row is None or not row["s"]:
        return None
    return float(row["n"]) / float(row["s"])


async def _stats(database_url: str) -> dict[str, int]:
    """Row writes and commits in this database so far (pg_stat_database, flushed ~1 s late)."""
    await asyncio.sleep(1.2)
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        row = await connection.fetchrow(
            "SELECT tup_inserted AS ins, tup_updated AS upd, tup_deleted AS del, "
            "xact_commit AS commits FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await connection.close()
    assert row is not None
    return {key: int(row[key]) for key in ("ins", "upd", "del", "commits")}


async def _baseline(database_url: str, measured: Measured, events: int) -> float:
    """Bare asyncpg: the same row writes per event, one transaction per event."""
    inserts = max(1, round(measured.inserts_per_event))
    updates = round(measured.updates_per_event)
    connections = [
        await asyncpg.connect(asyncpg_dsn(database_url)) for _ in range(measured.partitions)
    ]
    try:
        await connections[0].execute(
            "CREATE TABLE IF NOT EXISTS bench_effect (id uuid PRIMARY KEY, subject uuid NOT NULL, "
            "payload text NOT NULL, at timestamptz NOT NULL DEFAULT now());"
            "CREATE TABLE IF NOT EXISTS bench_subject (id uuid PRIMARY KEY, n int NOT NULL)"
        )
        subjects = [uuid.uuid4() for _ in range(events)]
        await connections[0].executemany(
            "INSERT INTO bench_subject (id, n) VALUES ($1, 0)", [(s,) for s in subjects]
        )
        payload = "x" * 300

        async def apply(connection: asyncpg.Connection, share: list[uuid.UUID]) -> None:
            for subject in share:
                async with connection.transaction():
                    for _ in range(inserts):
                        await connection.execute(
                            "INSERT INTO bench_effect (id, subject, payload) VALUES ($1, $2, $3)",
                            uuid.uuid4(),
                            subject,
                            payload,
                        )
                    for _ in range(updates):
                        await connection.execute(
                            "UPDATE bench_subject SET n = n + 1 WHERE id = $1", subject
                        )

        started = time.monotonic()
        await asyncio.gather(
            *(
                apply(connection, subjects[i :: len(connections)])
                for i, connection in enumerate(connections)
            )
        )
        return events / (time.monotonic() - started)
    finally:
        for connection in connections:
            await connection.close()
