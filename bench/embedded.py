"""Embedded mode: the same loop against ``linli run`` (one process, SQLite, the embedded log),
to show where one machine ends. Baseline: the same raw aiokafka round trips as ``bench.loop``
would be meaningless here (no Kafka), so its ratio is against the Kafka platform's figures when
``bench.loop`` ran in the same run, and its own latency is reported as is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from bench.common import (
    STATE_ROOT,
    Report,
    TimingSmtpSink,
    print_table,
    ratio,
    stage,
    track,
    write_json,
)
from bench.driver import STEP_COLUMNS, LoopPlan, LoopTarget
from bench.loop import REGISTERED, drive, plot_ramp
from tests.support.infra import free_port

SERVICES = ("inspections", "credit", "notify")  # the read models the loop needs

TARGET_RATE_EMBEDDED = 50.0  # inspections/s `linli run` must sustain

QUICK = LoopPlan(
    households=100,
    ramp=(25, 50),
    step_seconds=5,
    fixed_rate=50,
    fixed_seconds=5,
    drain_seconds=20,
    closed_connections=8,
    closed_requests=1_000,
    closed_seconds=10,
)
FULL = LoopPlan(
    households=600,
    ramp=(25, 50, 100, 150, 200, 300),
    step_seconds=15,
    fixed_rate=50,
    fixed_seconds=30,
    drain_seconds=30,
    closed_connections=16,
    closed_requests=5_000,
    closed_seconds=30,
)


async def run(out_dir: Path, quick: bool) -> dict[str, object]:
    plan = QUICK if quick else FULL
    report = Report("embedded")
    with TimingSmtpSink() as sink:
        async with embedded_platform(sink) as (base, data_dir, pid):
            target = LoopTarget(
                url=lambda service: f"{base}/{service}",
                registrations_applied=lambda: asyncio.to_thread(_applied, data_dir),
                processes={"linli run": [pid]},
            )
            figures = await drive(target, sink, plan)
    fixed = figures.fixed
    report.figures = {"plan": vars(plan), **figures.to_json()}
    rows = [step.row() for step in [figures.closed, *figures.ramp, fixed]]
    rows[0][0] = f"closed ({plan.closed_connections} conns)"
    print_table(
        "embedded (`linli run`): closed loop (wrk), open-loop ramp, then fixed",
        STEP_COLUMNS,
        rows,
    )
    sustained = figures.sustained_per_s
    loop = _loop_figures(out_dir)
    report.add_ratio(
        "sustained_throughput_vs_kafka_platform",
        ratio(sustained, loop.get("sustained_inspections_per_s")),
        "embedded inspections/s sustained ÷ the platform on Kafka + PostgreSQL (same run)",
    )
    report.add_target(
        "one machine",
        f"≥ {TARGET_RATE_EMBEDDED:.0f} inspections/s end to end, closed loop",
        f"{round(figures.closed.delivered_per_s, 1)} /s "
        f"({figures.closed.delivered_fraction:.0%} delivered), "
        f"p99 {fixed.request_to_notice['p99_ms']} ms at {plan.fixed_rate:.0f}/s",
        sustained is not None and sustained >= TARGET_RATE_EMBEDDED,
    )
    plot_ramp(out_dir / "embedded_ramp.png", "Embedded mode (linli run)", figures)
    payload = report.to_json()
    write_json(out_dir, "embedded", payload)
    return payload


def _loop_figures(out_dir: Path) -> dict[str, float]:
    path = out_dir / "loop.json"
    if not path.exists():
        return {}
    figures = json.loads(path.read_text()).get("figures", {})
    value = figures.get("sustained_inspections_per_s")
    return {"sustained_inspections_per_s": value} if isinstance(value, int | float) else {}


def _applied(data_dir: Path) -> int:
    counts = []
    for service in SERVICES:
        try:
            with contextlib.closing(sqlite3.connect(data_dir / f"{service}.db", timeout=5)) as db:
                (count,) = db.execute(
                    "SELECT count(*) FROM inbox WHERE event_type = ?", (REGISTERED,)
                ).fetchone()
        except sqlite3.Error:
            count = 0
        counts.append(int(count))
    return min(counts)


@contextlib.asynccontextmanager
async def embedded_platform(sink: TimingSmtpSink) -> AsyncIterator[tuple[str, Path, int]]:
    STATE_ROOT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=STATE_ROOT) as work_dir:
        data_dir = Path(work_dir) / "data"
        port = free_port()
        env = {
            **os.environ,
            "LINLI_ENVIRONMENT": "test",
            "LINLI_LOG_LEVEL": "WARNING",
            "LINLI_NOTIFY_SMTP_HOST": "127.0.0.1",
            "LINLI_NOTIFY_SMTP_PORT": str(sink.port),
        }
        log_path = Path(work_dir) / "linli-run.log"
        process = _spawn(env, port, data_dir, log_path)
        track(process)
        base = f"http://127.0.0.1:{port}"
        try:
            with stage("start `linli run`"):
                await _ready(base, process, log_path)
            yield base, data_dir, process.pid
        finally:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _ready(base: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 400
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"linli run exited:\n{_tail(log_path)}")
            with contextlib.suppress(httpx.HTTPError):
                answers = [
                    (await client.get(f"{base}/{service}/readyz")).status_code
                    for service in ("registry", *SERVICES)
                ]
                if all(code == 200 for code in answers):
                    return
            await asyncio.sleep(0.5)
    raise TimeoutError(f"linli run not ready:\n{_tail(log_path)}")


def _spawn(
    env: dict[str, str], port: int, data_dir: Path, log_path: Path
) -> subprocess.Popen[bytes]:
    command = ["run", "--port", str(port), "--no-mail-catcher", "--data-dir", str(data_dir)]
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "linli", *command], env=env, stdout=log, stderr=subprocess.STDOUT
        )


def _tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-3000:]
