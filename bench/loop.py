"""End-to-end loop: the four services as processes on real Kafka and PostgreSQL.

Failed inspections are recorded over HTTP at a rising offered load until the notices no longer
keep up (throughput), then at a fixed load (request → notice delivered by SMTP: p50/p95/p99).
Baseline in the same run: raw aiokafka produce → consume round trips of same-sized records.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import asyncpg
import httpx

from bench.common import (
    STATE_ROOT,
    Report,
    TimingSmtpSink,
    asyncpg_dsn,
    console,
    create_database,
    drop_database,
    infrastructure,
    infrastructure_pids,
    namespace,
    plot_lines,
    print_table,
    ratio,
    stage,
    track,
    write_json,
)
from bench.driver import (
    MAX_IN_FLIGHT,
    STEP_COLUMNS,
    LoopDriver,
    LoopFigures,
    LoopPlan,
    LoopTarget,
    ramp_and_fixed,
)
from bench.events import inspection_failed
from bench.kafka_baseline import round_trips
from tests.support.platform import SERVICES, Platform

REGISTERED = "linli.registry.household.registered.v1"
TARGET_RATE = 100.0  # inspections/s the loop must sustain on 2 cores (the aim: 200)
LATENCY_RATE = 50.0  # the offered rate of the latency target
TARGET_P99_MS = 1000.0

QUICK = LoopPlan(
    households=100,
    ramp=(25, 50, 100, 200),
    step_seconds=5,
    fixed_rate=LATENCY_RATE,
    fixed_seconds=10,
    drain_seconds=30,
    closed_connections=16,
    closed_requests=2_000,
    closed_seconds=15,
)
FULL = LoopPlan(
    households=600,
    ramp=(25, 50, 75, 100, 150, 200, 250, 300, 400),
    step_seconds=15,
    fixed_rate=LATENCY_RATE,
    fixed_seconds=30,
    drain_seconds=60,
    closed_connections=32,
    closed_requests=10_000,
    closed_seconds=60,
)


async def run(out_dir: Path, quick: bool) -> dict[str, object]:
    plan = QUICK if quick else FULL
    report = Report("loop")
    infra = infrastructure()
    with stage("baseline: raw aiokafka round trips"):
        baseline = await round_trips(
            infra.bootstrap,
            len(inspection_failed(uuid.uuid4()).value),
            burst=5_000 if quick else 50_000,
            rate=plan.fixed_rate,
            seconds=plan.fixed_seconds,
        )
    with TimingSmtpSink() as sink:
        async with running_platform(sink) as platform:
            figures = await drive(platform_target(platform), sink, plan)
    summarise(report, figures, baseline, plan, "loop")
    plot_ramp(out_dir / "loop_ramp.png", "Loop on Kafka + PostgreSQL", figures)
    result = report.to_json()
    write_json(out_dir, "loop", result)
    return result


async def drive(target: LoopTarget, sink: TimingSmtpSink, plan: LoopPlan) -> LoopFigures:
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)
    async with httpx.AsyncClient(timeout=15, limits=limits) as client:
        driver = LoopDriver(target, sink, client)
        with stage(f"register {plan.households} households"):
            await driver.register(plan.households)
        with stage("warm-up"):
            await driver.step(20, 2, plan.drain_seconds)
        try:
            with stage("closed loop (wrk), open-loop ramp, fixed load"):
                return await ramp_and_fixed(driver, plan)
        finally:
            await driver.aclose()


@contextlib.asynccontextmanager
async def running_platform(
    sink: TimingSmtpSink, extra_env: Mapping[str, str] | None = None
) -> AsyncIterator[Platform]:
    infra = infrastructure()
    env = {
        "LINLI_ENVIRONMENT": "test",
        "LINLI_LOG_LEVEL": "WARNING",
        "LINLI_KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap,
        "LINLI_KAFKA_NAMESPACE": namespace(),
        "LINLI_NOTIFY_SMTP_HOST": "127.0.0.1",
        "LINLI_NOTIFY_SMTP_PORT": str(sink.port),
        **(extra_env or {}),
    }
    databases = {name: await create_database(f"bench_{name}") for name in SERVICES}
    for name, url in databases.items():
        env[f"LINLI_{name.upper()}_DATABASE_URL"] = url
    STATE_ROOT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=STATE_ROOT) as work_dir:
        # Started anew, as on a pod: not forked from the tests' pre-imported parent.
        platform = Platform(Path(work_dir), env, forked=False)
        try:
            with stage("start the platform (8 processes)"):
                await asyncio.to_thread(start, platform)
            yield platform
        finally:
            await asyncio.to_thread(platform.stop)
            for url in databases.values():
                with contextlib.suppress(Exception):
                    await drop_database(url)


def start(platform: Platform) -> None:
    """Platform.start with patience: eight interpreters importing at once on a busy machine."""
    platform.migrate()
    for process in platform.processes:
        process.start()
        track(process.process)
    for name in SERVICES:
        platform.wait_ready(name, timeout=400)


def platform_target(platform: Platform) -> LoopTarget:
    async def registrations_applied() -> int:
        counts = [
            await _count_inbox(platform.database_url(name), REGISTERED)
            for name in ("inspections", "credit", "notify")
        ]
        return min(counts)

    processes = {p.name: [p.process.pid] for p in platform.processes if p.process is not None}
    return LoopTarget(
        url=platform.url,
        registrations_applied=registrations_applied,
        processes={**processes, **infrastructure_pids()},
    )


async def _count_inbox(database_url: str, event_type: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM inbox WHERE event_type = $1", event_type
            )
        )
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await connection.close()


def summarise(
    report: Report,
    figures: LoopFigures,
    baseline: dict[str, object],
    plan: LoopPlan,
    label: str,
) -> None:
    fixed = figures.fixed
    report.figures = {"plan": vars(plan), **figures.to_json(), "kafka_baseline": baseline}
    rows = [step.row() for step in [figures.closed, *figures.ramp, fixed]]
    rows[0][0] = f"closed ({plan.closed_connections} conns)"
    print_table(
        f"{label}: closed loop (wrk), open-loop ramp, then fixed {plan.fixed_rate:.0f}/s",
        STEP_COLUMNS,
        rows,
    )
    kafka_latency = baseline["latency_at_fixed_rate"]
    assert isinstance(kafka_latency, dict)
    print_table(
        "baseline: raw aiokafka produce → consume",
        ["record bytes", "round trips/s", f"p50 ms @ {plan.fixed_rate:.0f}/s", "p99 ms"],
        [
            [
                baseline["record_bytes"],
                baseline["round_trips_per_s"],
                kafka_latency["p50_ms"],
                kafka_latency["p99_ms"],
            ]
        ],
    )
    cpu = figures.cpu_ms_per_inspection
    if cpu:
        print_table(
            f"{label}: CPU per accepted inspection, by process (ramp and fixed load)",
            ["process", "CPU ms / inspection"],
            [[name, ms] for name, ms in sorted(cpu.items(), key=lambda item: -item[1])]
            + [["all", round(sum(cpu.values()), 1)]],
        )
    sustained = figures.sustained_per_s
    p99 = fixed.request_to_notice["p99_ms"]
    report.add_ratio(
        "sustained_throughput_vs_kafka",
        ratio(sustained, _float(baseline["round_trips_per_s"])),
        "inspections/s sustained ÷ raw Kafka round trips/s (same broker, same record size)",
    )
    report.add_ratio(
        "p99_latency_vs_kafka",
        ratio(p99, _float(kafka_latency["p99_ms"])),
        f"request→notice p99 ÷ raw Kafka produce→consume p99, both at {plan.fixed_rate:.0f}/s",
    )
    report.add_ratio(
        "p50_latency_vs_kafka",
        ratio(fixed.request_to_notice["p50_ms"], _float(kafka_latency["p50_ms"])),
        f"request→notice p50 ÷ raw Kafka p50, both at {plan.fixed_rate:.0f}/s",
    )
    report.add_target(
        "throughput",
        f"≥ {TARGET_RATE:.0f} inspections/s end to end, closed loop (aim 200)",
        f"{round(figures.closed.delivered_per_s, 1)} /s "
        f"({figures.closed.delivered_fraction:.0%} of {figures.closed.accepted} delivered)",
        sustained is not None and sustained >= TARGET_RATE,
        f"raw Kafka {baseline['round_trips_per_s']} round trips/s",
    )
    report.add_target(
        "latency",
        f"p99 request→notice < {TARGET_P99_MS:.0f} ms at {plan.fixed_rate:.0f}/s",
        f"{p99} ms ({fixed.delivered_fraction:.0%} delivered)",
        p99 is not None and p99 < TARGET_P99_MS and fixed.delivered_fraction >= 0.99,
        f"raw Kafka p99 {kafka_latency['p99_ms']} ms",
    )


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def plot_ramp(path: Path, title: str, figures: LoopFigures) -> None:
    ramp = figures.ramp
    offered = [step.offered_per_s for step in ramp]
    plot_lines(
        path,
        title,
        "offered inspections/s",
        "per second / milliseconds ÷ 10",
        {
            "notices delivered/s": (offered, [step.delivered_per_s for step in ramp]),
            "HTTP accepted/s": (offered, [step.accepted_per_s for step in ramp]),
            "p99 request→notice (ms ÷ 10)": (
                offered,
                [_tenth(step.request_to_notice) for step in ramp],
            ),
        },
    )
    console.print(f"[dim]plot: {path}[/dim]")


def _tenth(latency: dict[str, float | int | None]) -> float | None:
    p99 = latency["p99_ms"]
    return None if p99 is None else p99 / 10
