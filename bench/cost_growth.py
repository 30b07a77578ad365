"""Cost growth: do reads stay flat as the ledger and the registry grow?

Score and grade, green-channel checks and explain with 1 thousand vs 1 million ledger entries;
registry search (and household by id) with 10 thousand vs 1 million households; the rate of
`linli credit rebuild` in entries/s. Each read is measured on one running server, once on the
small database and again after the database itself has bulk-loaded the rest
(INSERT … generate_series). The subjects and households read are the same in both runs.

    uv run python -m bench.cost_growth [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import time
from dataclasses import dataclass
from typing import Any

from bench import _reads_seed as seed
from bench import _reads_support as support
from bench.api_reads import Read, _auth
from linli_credit.app import rebuild
from linli_credit.settings import CreditSettings

NAME = "cost_growth"
TARGET_RATIO = 1.5
CONCURRENCY = 8
READ_SUBJECTS = 100
CHUNK = 200_000


@dataclass(frozen=True)
class Sizes:
    entries: tuple[int, int]
    households: tuple[int, int]
    seconds: float
    rebuild_seconds: float


FULL = Sizes((1_000, 1_000_000), (10_000, 1_000_000), 6.0, 20.0)
QUICK = Sizes((1_000, 100_000), (10_000, 100_000), 2.5, 3.0)


async def run(out_dir: pathlib.Path, quick: bool) -> dict[str, object]:
    sizes = QUICK if quick else FULL
    if quick:
        support.console.print(
            f"[yellow]--quick: {sizes.entries[1]:,} entries and {sizes.households[1]:,} "
            "households as the large sizes (the full run uses 1,000,000)[/yellow]"
        )
    with support.postgres_admin_url() as admin_url:
        credit = await _credit(admin_url, sizes)
        registry = await _registry(admin_url, sizes)
    return _report(out_dir, quick, sizes, credit, registry)


# --- credit -------------------------------------------------------------------------------------


async def _credit(admin_url: str, sizes: Sizes) -> dict[str, Any]:
    small, large = sizes.entries
    subjects = [seed.subject_id(i) for i in range(READ_SUBJECTS)]
    async with (
        support.fresh_database(admin_url, "credit") as small_url,
        support.fresh_database(admin_url, "credit") as large_url,
    ):
        await _grow(small_url, seed.add_ledger, 0, small)
        support.console.print(f"  loading a ledger of {large:,} entries…")
        loaded = await _grow(large_url, seed.add_ledger, 0, large)

        def reads(url: str) -> list[Read]:
            env = {"LINLI_CREDIT_DATABASE_URL": url}
            officer = _auth("credit_officer")
            return [
                Read(
                    "score and grade",
                    "credit",
                    [f"/v1/subjects/{s}/score" for s in subjects],
                    officer,
                    env,
                ),
                Read(
                    "green-channel check",
                    "credit",
                    [f"/v1/subjects/{s}/green-channel" for s in subjects],
                    _auth("service"),
                    env,
                ),
                Read(
                    "explain",
                    "credit",
                    [f"/v1/subjects/{s}/explanation" for s in subjects],
                    officer,
                    env,
                ),
            ]

        compared = await _alternate(reads(small_url), reads(large_url), sizes.seconds)
        rebuild_small = await _rebuild_rate(small_url, sizes.rebuild_seconds)
        rebuild_large = await _rebuild_rate(large_url, sizes.rebuild_seconds)
    return {
        "sizes": [small, large],
        "unit": "ledger entries",
        "load_seconds": loaded,
        "reads": compared,
        "rebuild": {"small": rebuild_small, "large": rebuild_large},
    }


class _Enough(Exception):
    """Raised from the progress callback to end a rebuild run at its time budget."""


async def _rebuild_rate(url: str, seconds: float) -> dict[str, Any]:
    """`linli credit rebuild` (the same function) for at most `seconds`: entries/s."""
    accounts = 0
    started = time.perf_counter()

    def counted() -> None:
        nonlocal accounts
        accounts += 1
        if time.perf_counter() - started > seconds:
            raise _Enough

    finished = True
    try:
        report = await rebuild(CreditSettings(database_url=url), counted)
        if report.changed:
            raise RuntimeError(f"rebuild changed {len(report.changed)} healthy accounts")
    except _Enough:
        finished = False
    elapsed = time.perf_counter() - started
    entries = accounts * seed.ENTRIES_PER_SUBJECT
    support.console.print(
        f"  rebuild: {accounts:,} accounts ({entries:,} entries) in {elapsed:.1f} s"
        + ("" if finished else " (time budget reached)")
    )
    return {
        "accounts": accounts,
        "entries": entries,
        "seconds": round(elapsed, 2),
        "entries_per_second": round(entries / elapsed, 1),
        "finished": finished,
    }


# --- registry -----------------------------------------------------------------------------------


async def _registry(admin_url: str, sizes: Sizes) -> dict[str, Any]:
    small, large = sizes.households
    staff = _auth("community_staff")
    async with (
        support.fresh_database(admin_url, "registry") as small_url,
        support.fresh_database(admin_url, "registry") as large_url,
    ):
        await _grow(small_url, seed.add_households, 0, small)
        support.console.print(f"  loading a registry of {large:,} households…")
        loaded = await _grow(large_url, seed.add_households, 0, large)

        def reads(url: str) -> list[Read]:
            env = {"LINLI_REGISTRY_DATABASE_URL": url}
            grids = range(small // seed.HOUSEHOLDS_PER_GRID)
            return [
                Read(
                    "search: a grid's households",
                    "registry",
                    [f"/v1/households?grid_id=g{g}&limit=50" for g in grids],
                    staff,
                    env,
                ),
                Read(
                    "search: a name in a community",
                    "registry",
                    [f"/v1/households?community_id=c0&name=Li%20{n}" for n in range(100, 200)],
                    staff,
                    env,
                ),
                Read(
                    "household by id",
                    "registry",
                    [f"/v1/households/{seed.household_id(i)}" for i in range(1_000)],
                    staff,
                    env,
                ),
            ]

        compared = await _alternate(reads(small_url), reads(large_url), sizes.seconds)
    return {
        "sizes": [small, large],
        "unit": "households",
        "load_seconds": loaded,
        "reads": compared,
    }


# --- common -------------------------------------------------------------------------------------


async def _grow(url: str, add: Any, first: int, end: int) -> float:
    started = time.perf_counter()
    connection = await support.connect(url)
    try:
        for start in range(first, end, CHUNK):
            await add(connection, start, min(end, start + CHUNK))
    finally:
        await connection.close()
    return round(time.perf_counter() - started, 1)


async def _alternate(
    small_reads: list[Read], large_reads: list[Read], seconds: float
) -> list[dict[str, Any]]:
    """Each read on the small database, on the large one, and on the small one again (one
    server for each), so other work on the machine weighs on both sides of the ratio."""
    compared = []
    async with (
        support.server(small_reads[0].service, small_reads[0].env) as small_server,
        support.server(large_reads[0].service, large_reads[0].env) as large_server,
    ):
        for small_read, large_read in zip(small_reads, large_reads, strict=True):
            first = await _measure(small_server, small_read, seconds)
            large = await _measure(large_server, large_read, seconds)
            second = await _measure(small_server, small_read, seconds)
            compared.append(_compare(first, large, second))
    return compared


async def _measure(server: support.Server, read: Read, seconds: float) -> support.LoadResult:
    status, body = await support.get(server.port, read.paths[0], read.headers)
    if status != 200:
        raise RuntimeError(f"{read.name}: {read.paths[0]} answered {status}: {body[:300]!r}")
    support.console.print(f"  measuring {read.name} ({seconds:.0f} s)…")
    return await support.load(
        read.name,
        server,
        read.paths,
        headers=read.headers,
        concurrency=CONCURRENCY,
        seconds=seconds,
    )


def _compare(
    first: support.LoadResult, large: support.LoadResult, second: support.LoadResult
) -> dict[str, Any]:
    small_rate = (first.rate + second.rate) / 2
    small_p50 = (first.percentile(50) + second.percentile(50)) / 2
    small_cpu = [r.cpu_ms_per_request for r in (first, second) if r.cpu_ms_per_request]
    growth = support.ratio(small_rate, large.rate)
    return {
        "name": large.name,
        "small": first.summary() | {"rps": round(small_rate, 1), "p50_ms": round(small_p50, 2)},
        "large": large.summary(),
        "slowdown": growth,
        "p50_ratio": support.ratio(large.percentile(50), small_p50),
        "cpu_ratio": (
            support.ratio(large.cpu_ms_per_request, sum(small_cpu) / len(small_cpu))
            if large.cpu_ms_per_request and small_cpu
            else None
        ),
        "target_met": growth <= TARGET_RATIO,
    }


def _report(
    out_dir: pathlib.Path,
    quick: bool,
    sizes: Sizes,
    credit: dict[str, Any],
    registry: dict[str, Any],
) -> dict[str, object]:
    rows: list[list[Any]] = []
    for part in (credit, registry):
        small, large = part["sizes"]
        for read in part["reads"]:
            rows.append(
                [
                    read["name"],
                    f"{small:,} → {large:,} {part['unit']}",
                    read["small"]["rps"],
                    read["large"]["rps"],
                    f"{read['slowdown']:.2f}x",
                    f"{read['small']['p50_ms']:.1f} → {read['large']['p50_ms']:.1f}",
                    "-" if read["cpu_ratio"] is None else f"{read['cpu_ratio']:.2f}x",
                    "yes" if read["target_met"] else "NO",
                ]
            )
    rebuilt = credit["rebuild"]
    rebuild_ratio = support.ratio(
        rebuilt["small"]["entries_per_second"], rebuilt["large"]["entries_per_second"]
    )
    rows.append(
        [
            "linli credit rebuild (entries/s)",
            f"{sizes.entries[0]:,} → {sizes.entries[1]:,} ledger entries",
            rebuilt["small"]["entries_per_second"],
            rebuilt["large"]["entries_per_second"],
            f"{rebuild_ratio:.2f}x",
            "",
            "",
            "yes" if rebuild_ratio <= TARGET_RATIO else "NO",
        ]
    )
    support.table(
        f"Cost growth ({'quick' if quick else 'full'}: {sizes.seconds:.0f} s per read, "
        f"{CONCURRENCY} connections; slowdown = small req/s ÷ large req/s)",
        ["read", "sizes", "req/s small", "req/s large", "slowdown", "p50 ms", "CPU/req", "≤1.5x"],
        rows,
    )
    reads_measured = [*credit["reads"], *registry["reads"]]
    targets: dict[str, dict[str, object]] = {}
    for read in reads_measured:
        if read["name"] == NAME_SEARCH:
            targets["name search, small → large"] = _target(read, registry["sizes"])
    others = [r for r in reads_measured if r["name"] != NAME_SEARCH]
    if others:
        worst = max(others, key=lambda r: r["slowdown"])
        targets["the other reads, small → large"] = _target(worst, None)
    data: dict[str, object] = {
        "name": NAME,
        "targets": targets,
        "quick": quick,
        "machine": support.machine(),
        "seconds_per_read": sizes.seconds,
        "concurrency": CONCURRENCY,
        "target_ratio": TARGET_RATIO,
        "credit": credit,
        "registry": registry,
        "rebuild_slowdown": rebuild_ratio,
    }
    support.write_json(out_dir, NAME, data)
    reads = [*credit["reads"], *registry["reads"]]
    support.bar_chart(
        out_dir,
        NAME,
        "Cost growth: slowdown of each read, large ÷ small (1.0 = flat)",
        [r["name"] for r in reads] + ["credit rebuild"],
        [r["slowdown"] for r in reads] + [rebuild_ratio],
        "slowdown (×)",
    )
    return data


NAME_SEARCH = "search: a name in a community"


def _target(read: dict[str, Any], sizes: Any) -> dict[str, object]:
    span = f" ({sizes[0]:,} → {sizes[1]:,} households)" if sizes else f" (worst: {read['name']})"
    return {
        "target": f"≤ {TARGET_RATIO}x slower at the large size",
        "reached": f"{read['slowdown']:.2f}x{span}",
        "baseline": f"the small data set: {read['small']['rps']:,.0f} req/s",
        "met": read["slowdown"] <= TARGET_RATIO,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller large sizes, shorter runs")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("bench/results"))
    arguments = parser.parse_args()
    asyncio.run(run(arguments.out, arguments.quick))


if __name__ == "__main__":
    main()
