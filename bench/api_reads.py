"""API reads: requests/s and latency of the hot reads against a bare FastAPI endpoint.

Household by id (registry), score and grade, explain, green-channel check (credit): each
served by one uvicorn worker exactly as `linli serve` runs it, on real PostgreSQL, loaded by
the same closed-loop generator (wrk, bench/wrk.py) on 127.0.0.1 as the bare baseline measured
in the same run. A run whose bare baseline is under 10,000 req/s says it is invalid.

    uv run python -m bench.api_reads [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import pathlib
from dataclasses import dataclass
from typing import Any

from bench import _reads_seed as seed
from bench import _reads_support as support
from bench import wrk
from bench.common import Report
from linli_shared.auth import mint_dev_token
from linli_shared.settings import PlatformSettings

NAME = "api_reads"
TARGET_RATIO = 4.0  # required; the aim is 3x
SUBJECTS = 1_000
CONNECTIONS = 16


def _auth(*roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_dev_token(PlatformSettings(), 'bench', roles)}"}


async def run(out_dir: pathlib.Path, quick: bool) -> dict[str, object]:
    seconds = 3.0 if quick else 10.0
    with support.postgres_admin_url() as admin_url:
        async with (
            support.fresh_database(admin_url, "credit") as credit_url,
            support.fresh_database(admin_url, "registry") as registry_url,
        ):
            await _seed(credit_url, registry_url)
            results = await _measure(credit_url, registry_url, seconds)
    return _report(out_dir, results, quick, seconds)


async def _seed(credit_url: str, registry_url: str) -> None:
    for url, add, size in (
        (credit_url, seed.add_ledger, SUBJECTS * seed.ENTRIES_PER_SUBJECT),
        (registry_url, seed.add_households, SUBJECTS),
    ):
        connection = await support.connect(url)
        try:
            await add(connection, 0, size)
        finally:
            await connection.close()


@dataclass(frozen=True)
class Read:
    name: str
    service: str
    paths: list[str]
    headers: dict[str, str]
    env: dict[str, str]


def _reads(credit_url: str, registry_url: str) -> list[Read]:
    subjects = [seed.subject_id(i) for i in range(SUBJECTS)]
    households = [seed.household_id(i) for i in range(SUBJECTS)]
    credit = {"LINLI_CREDIT_DATABASE_URL": credit_url}
    return [
        Read(
            "household by id",
            "registry",
            [f"/v1/households/{h}" for h in households],
            _auth("community_staff"),
            {"LINLI_REGISTRY_DATABASE_URL": registry_url},
        ),
        Read(
            "score and grade",
            "credit",
            [f"/v1/subjects/{s}/score" for s in subjects],
            _auth("credit_officer"),
            credit,
        ),
        Read(
            "explain",
            "credit",
            [f"/v1/subjects/{s}/explanation" for s in subjects],
            _auth("credit_officer"),
            credit,
        ),
        Read(
            "green-channel check",
            "credit",
            [f"/v1/subjects/{s}/green-channel" for s in subjects],
            _auth("service"),
            credit,
        ),
    ]


NO_DATABASE = "no database (credit /v1/policies)"
FLOOR = "floor: FastAPI and one read by key"
BARE = Read("bare FastAPI", "bare", ["/bare"], {}, {})
CEILING = Read("generator ceiling (raw ASGI)", "raw", ["/bare"], {}, {})


def _no_database(credit_url: str) -> Read:
    """The credit's policy list: auth, middleware and a response, no database; it shows how
    much of a read's cost is the service's HTTP stack rather than its query."""
    env = {"LINLI_CREDIT_DATABASE_URL": credit_url}
    return Read(NO_DATABASE, "credit", ["/v1/policies"], _auth("service"), env)


def _floor(credit_url: str) -> Read:
    """FastAPI and credit's account statement on the read pool, nothing of the platform
    (`bench._reads_server.floor_app`): the least a read by key costs on this machine, so each
    read's ratio to it is what the platform adds."""
    paths = [f"/floor/{seed.subject_id(i)}" for i in range(SUBJECTS)]
    return Read(FLOOR, "floor", paths, {}, {"LINLI_CREDIT_DATABASE_URL": credit_url})


async def _check(read: Read, server: support.Server) -> None:
    status, body = await support.get(server.port, read.paths[0], read.headers)
    if status != 200:
        raise RuntimeError(f"{read.name}: {read.paths[0]} answered {status}: {body[:300]!r}")


Measured = tuple[wrk.WrkResult, wrk.WrkResult, wrk.WrkResult, float | None, float | None]


@dataclass(frozen=True)
class Measurements:
    reads: list[Measured]
    ceiling: list[wrk.WrkResult]  # the generator against a framework-less app, first and last


async def _measure(credit_url: str, registry_url: str, seconds: float) -> Measurements:
    """Each read between two runs of the baseline, so a change in what else the machine is
    doing shows on both sides of its ratio. All servers start first (idle ones cost nothing)."""
    reads = [*_reads(credit_url, registry_url), _no_database(credit_url), _floor(credit_url)]
    async with contextlib.AsyncExitStack() as stack:
        servers: dict[str, support.Server] = {}
        for read in [CEILING, BARE, *reads]:
            if read.service not in servers:
                servers[read.service] = await stack.enter_async_context(
                    support.server(read.service, read.env)
                )
            await _check(read, servers[read.service])

        async def run_one(read: Read) -> tuple[wrk.WrkResult, float | None]:
            server = servers[read.service]
            url = f"http://127.0.0.1:{server.port}"
            script = wrk.get_script(read.paths)
            support.console.print(f"  measuring {read.name} ({seconds:.0f} s, wrk)…")
            await wrk.run_wrk(  # warm-up: connections, caches, the JIT-less interpreter's dicts
                read.name, url, script, headers=read.headers, connections=CONNECTIONS, seconds=1
            )
            cpu_before = server.cpu_seconds()
            result = await wrk.run_wrk(
                read.name,
                url,
                script,
                headers=read.headers,
                connections=CONNECTIONS,
                seconds=seconds,
            )
            cpu_after = server.cpu_seconds()
            server_cpu = (
                None
                if cpu_before is None or cpu_after is None or not result.requests
                else 1000 * (cpu_after - cpu_before) / result.requests
            )
            return result, server_cpu

        measured: list[Measured] = []
        first_ceiling, _ = await run_one(CEILING)
        before, before_cpu = await run_one(BARE)
        for read in reads:
            result, cpu = await run_one(read)
            after, after_cpu = await run_one(BARE)
            measured.append((before, result, after, cpu, _mean([before_cpu, after_cpu])))
            before, before_cpu = after, after_cpu
        last_ceiling, _ = await run_one(CEILING)
        return Measurements(measured, [first_ceiling, last_ceiling])


def _report(
    out_dir: pathlib.Path, measurements: Measurements, quick: bool, seconds: float
) -> dict[str, object]:
    rows: list[list[Any]] = []
    entries: list[dict[str, Any]] = []
    report = Report(NAME)
    measured = measurements.reads
    bare_rates = [r.rate for before, _, after, _, _ in measured for r in (before, after)]
    bare_low = min(bare_rates) if bare_rates else 0.0
    bare_high = max(bare_rates, default=0.0)
    ceiling = min((r.rate for r in measurements.ceiling), default=0.0)
    valid = ceiling >= wrk.CEILING_MIN_RPS and ceiling >= wrk.HEADROOM * bare_high
    generator_share = max(
        (r.generator_cpu_seconds / r.seconds for m in measured for r in m[:3] if r.seconds),
        default=0.0,
    )
    worst = 0.0
    floor_rate = next((r.rate for _, r, _, _, _ in measured if r.name == FLOOR), 0.0)
    floor_slower = 0.0
    for before, result, after, cpu, bare_cpu in measured:
        bare_rate = (before.rate + after.rate) / 2
        slower = support.ratio(bare_rate, result.rate)
        cpu_ratio = support.ratio(cpu, bare_cpu) if cpu is not None and bare_cpu else None
        over_floor = support.ratio(floor_rate, result.rate) if floor_rate else None
        if result.name == FLOOR:
            floor_slower = slower
        is_target = result.name not in (NO_DATABASE, FLOOR)
        if is_target:
            worst = max(worst, slower)
        summary = result.summary() | {
            "bare_rps": round(bare_rate, 1),
            "server_cpu_ms_per_request": None if cpu is None else round(cpu, 3),
            "bare_server_cpu_ms_per_request": None if bare_cpu is None else round(bare_cpu, 3),
            "times_slower_than_bare": slower,
            "times_slower_than_floor": over_floor,
            "cpu_per_request_vs_bare": cpu_ratio,
            "target_met": slower <= TARGET_RATIO if is_target else None,
        }
        entries.append({"name": result.name, **summary})
        report.add_ratio(
            f"{result.name} vs bare",
            slower,
            f"bare req/s ÷ read req/s ({result.rate:,.0f} vs {bare_rate:,.0f}, wrk)",
        )
        rows.append(
            [
                result.name,
                summary["rps"],
                summary["bare_rps"],
                f"{slower:.2f}x",
                "-" if over_floor is None else f"{over_floor:.2f}x",
                summary["p50_ms"],
                summary["p99_ms"],
                "-" if cpu is None else f"{cpu:.3f}/{bare_cpu or 0:.3f}",
                "-" if cpu_ratio is None else f"{cpu_ratio:.2f}x",
                f"{result.generator_cpu_ms_per_request:.3f}",
                "" if not is_target else ("yes" if slower <= TARGET_RATIO else "NO"),
            ]
        )
    support.console.print(
        "ratio: bare req/s ÷ read req/s (bare measured before and after each read); "
        "CPU ms/req: server CPU per answered request, read/bare; wrk ms/req: the generator's own; "
        "vs floor: the floor's req/s ÷ the read's (the floor: FastAPI and one read by key on "
        "asyncpg, nothing of the platform)"
    )
    support.table(
        f"API reads ({'quick' if quick else 'full'}: {seconds:.0f} s per run, wrk, "
        f"{CONNECTIONS} connections, one uvicorn worker, baseline run before and after each)",
        [
            "read",
            "req/s",
            "bare",
            "ratio",
            "vs floor",
            "p50 ms",
            "p99 ms",
            "CPU ms/req",
            "CPU ratio",
            "wrk ms/req",
            f"≤{TARGET_RATIO:.0f}x",
        ],
        rows,
    )
    headroom = f"{ceiling / bare_high:.1f}x" if bare_high else "-"
    validity = (
        f"valid: the generator drove {ceiling:,.0f} req/s against a framework-less app "
        f"(≥ {wrk.CEILING_MIN_RPS:,.0f}), {headroom} the best bare FastAPI run "
        f"({bare_high:,.0f}; ≥ {wrk.HEADROOM:.0f}x): the baseline is FastAPI's own limit"
        if valid
        else f"INVALID RUN: the generator drove only {ceiling:,.0f} req/s against a "
        f"framework-less app ({headroom} the best bare FastAPI run, {bare_high:,.0f}); it must "
        f"reach {wrk.CEILING_MIN_RPS:,.0f} and {wrk.HEADROOM:.0f}x: the machine was busy or the "
        "generator was the bottleneck"
    )
    support.console.print(f"[{'green' if valid else 'red'}]{validity}[/]")
    report.notes.append(validity)
    report.add_target(
        "hot reads vs bare FastAPI",
        f"≤ {TARGET_RATIO:.0f}x (aim 3x); generator ceiling ≥ {wrk.CEILING_MIN_RPS:,.0f} req/s "
        f"and ≥ {wrk.HEADROOM:.0f}x bare",
        f"{worst:.2f}x (the slowest read)"
        + ("" if valid else "; INVALID RUN: the generator had no headroom"),
        valid and worst <= TARGET_RATIO,
        f"bare FastAPI {bare_low:,.0f}–{bare_high:,.0f} req/s; generator ceiling "
        f"{ceiling:,.0f} req/s (wrk); the floor (FastAPI and one read by key) "
        f"{floor_slower:.2f}x bare",
    )
    data: dict[str, object] = report.to_json() | {
        "quick": quick,
        "machine": support.machine(),
        "seconds_per_run": seconds,
        "connections": CONNECTIONS,
        "generator": "wrk (1 thread)",
        "generator_max_cores": round(generator_share, 2),
        "valid": valid,
        "generator_ceiling_rps": round(ceiling, 1),
        "ceiling_min_rps": wrk.CEILING_MIN_RPS,
        "headroom_min": wrk.HEADROOM,
        "target_ratio": TARGET_RATIO,
        "floor_times_slower_than_bare": floor_slower,
        "results": entries,
    }
    support.write_json(out_dir, NAME, data)
    support.bar_chart(
        out_dir,
        NAME,
        "API reads: requests/s beside the bare FastAPI baseline",
        [label for e in entries for label in (e["name"], f"bare (beside {e['name']})")],
        [rate for e in entries for rate in (e["rps"], e["bare_rps"])],
        "requests/s",
    )
    return data


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("bench/results"))
    arguments = parser.parse_args()
    asyncio.run(run(arguments.out, arguments.quick))


if __name__ == "__main__":
    main()
