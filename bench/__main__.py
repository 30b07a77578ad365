"""``python -m bench [--quick] [--only NAME ...]``: run the benchmarks, write results, summarise.

Each benchmark is a module of this package with ``async def run(out_dir, quick) -> dict``;
a module that is not there (yet) is skipped with a message.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from bench.common import (
    RESULTS_ROOT,
    close_infrastructure,
    console,
    infrastructure,
    machine,
    print_table,
    stop_children,
    write_json,
)

# Run in this order: the two required targets (reads, loop) first, the long data loads last.
BENCHMARKS: tuple[str, ...] = ("api_reads", "loop", "consumers", "embedded", "cost_growth")

RunBenchmark = Callable[[Path, bool], Awaitable[dict[str, object]]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="Short runs (minutes, not tens)")
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        metavar="NAME",
        help=f"Run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="Results folder (default bench/results/<time>)"
    )
    args = parser.parse_args(argv)
    names = [name for name in BENCHMARKS if not args.only or name in args.only]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir: Path = args.out or RESULTS_ROOT / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        return asyncio.run(_run_all(names, out_dir, args.quick))
    finally:
        stop_children()
        close_infrastructure()


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwind through the finally blocks that stop what we started


async def _run_all(names: Sequence[str], out_dir: Path, quick: bool) -> int:
    infra = infrastructure()
    console.print(f"Kafka {infra.bootstrap}, PostgreSQL {infra.database_url}")
    the_machine = await machine()
    console.print(f"Machine: {the_machine}")
    results: dict[str, dict[str, object]] = {}
    failed: list[str] = []
    for name in names:
        run = _load(name)
        if run is None:
            continue
        console.rule(f"bench: {name}{' (quick)' if quick else ''}")
        started = time.monotonic()
        try:
            results[name] = await run(out_dir, quick)
        except Exception:
            console.print(f"[red]{name} failed:[/red]\n{traceback.format_exc()}")
            failed.append(name)
            continue
        console.print(f"[dim]{name}: {time.monotonic() - started:.0f}s[/dim]")
    summary = {
        "started": out_dir.name,
        "quick": quick,
        "machine": the_machine,
        "benchmarks": results,
        "failed": failed,
    }
    write_json(out_dir, "summary", summary)
    _print_summary(results)
    console.print(f"Results in {out_dir}")
    return 1 if failed else 0


def _load(name: str) -> RunBenchmark | None:
    try:
        module = importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"bench.{name}":
            raise
        console.print(f"[yellow]bench.{name} is not there; skipped[/yellow]")
        return None
    return cast(RunBenchmark, module.run)


def _print_summary(results: Mapping[str, Mapping[str, object]]) -> None:
    ratio_rows: list[list[object]] = []
    target_rows: list[list[object]] = []
    for name, result in results.items():
        for ratio_name, value in _mapping(result.get("ratios")).items():
            figure = _mapping(value).get("value", value)
            meaning = _mapping(value).get("meaning", "")
            ratio_rows.append([name, ratio_name, figure, meaning])
        for target_name, value in _mapping(result.get("targets")).items():
            target = _mapping(value)
            met = target.get("met")
            verdict = "[green]PASS[/green]" if met else "[red]FAIL[/red]"
            target_rows.append(
                [
                    name,
                    target_name,
                    target.get("target"),
                    target.get("reached"),
                    target.get("baseline", ""),
                    verdict,
                ]
            )
    print_table(
        "Ratios (against the same-run baseline)", ["bench", "ratio", "value", "what"], ratio_rows
    )
    if target_rows:
        print_table(
            "Targets", ["bench", "target", "wanted", "reached", "baseline", ""], target_rows
        )


def _mapping(value: object) -> Mapping[str, Any]:
    return cast(Mapping[str, Any], value) if isinstance(value, Mapping) else {}


if __name__ == "__main__":
    raise SystemExit(main())
