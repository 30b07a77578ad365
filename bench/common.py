"""What every benchmark shares: infrastructure, the machine, results, statistics, tables, plots.

Infrastructure comes from ``tests/support/infra.py``: the broker and database named by
``LINLI_TEST_KAFKA_BOOTSTRAP`` / ``LINLI_TEST_DATABASE_URL`` when set, otherwise started here
(local processes from deploy/local, or containers where Docker answers) and stopped at exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path
from typing import Any, Final, Protocol

import asyncpg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from tests.support.infra import (
    REPO_ROOT,
    KafkaService,
    PostgresService,
    free_port,
    start_kafka,
    start_postgres,
)

console: Final = Console()
RESULTS_ROOT: Final[Path] = REPO_ROOT / "bench" / "results"
STATE_ROOT: Final[Path] = REPO_ROOT / ".local" / "bench"


# --------------------------------------------------------------------------- infrastructure


@dataclass
class Infrastructure:
    kafka: KafkaService
    postgres: PostgresService

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    @property
    def database_url(self) -> str:
        return self.postgres.url


_infrastructure: Infrastructure | None = None


def infrastructure() -> Infrastructure:
    """Kafka and PostgreSQL for this run: started once, reused by every benchmark.

    The started ones are exported as LINLI_TEST_* so child processes and later calls reuse them.
    """
    global _infrastructure
    if _infrastructure is None:
        STATE_ROOT.mkdir(parents=True, exist_ok=True)
        state = STATE_ROOT / "infra"
        kafka = start_kafka(state)
        postgres = start_postgres(state)
        os.environ["LINLI_TEST_KAFKA_BOOTSTRAP"] = kafka.bootstrap
        os.environ["LINLI_TEST_DATABASE_URL"] = postgres.url
        _infrastructure = Infrastructure(kafka, postgres)
    return _infrastructure


def close_infrastructure() -> None:
    global _infrastructure
    if _infrastructure is not None:
        _infrastructure.kafka.close()
        _infrastructure.postgres.close()
        _infrastructure = None


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy-style URL as asyncpg wants it (no ``+asyncpg`` driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database(prefix: str) -> str:
    """A fresh, empty database on the benchmark's PostgreSQL; returns its URL."""
    admin_url = make_url(infrastructure().database_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(asyncpg_dsn(admin_url.render_as_string(False)))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return admin_url.set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    admin_url = make_url(url).set(database="postgres")
    name = make_url(url).database
    connection = await asyncpg.connect(asyncpg_dsn(admin_url.render_as_string(False)))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def namespace() -> str:
    """A topic/group namespace of its own, so runs never see each other's records."""
    return f"bench{uuid.uuid4().hex[:8]}."


# --------------------------------------------------------------------------- child processes


class Child(Protocol):
    """A process a benchmark started (a `subprocess.Popen`, or a test platform's forked one)."""

    def poll(self) -> int | None: ...
    def terminate(self) -> None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def kill(self) -> None: ...


# Every process a benchmark starts, so that an interrupted run (Ctrl+C, SIGTERM, a timeout)
# still stops them: the runner calls stop_children() on its way out.
_children: list[Child] = []


def track(process: Child | None) -> None:
    if process is not None:
        _children.append(process)


def stop_children() -> None:
    for process in _children:
        if process.poll() is None:
            process.terminate()
    for process in _children:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    _children.clear()


# --------------------------------------------------------------------------- CPU accounting


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far; 0 when gone or off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def infrastructure_pids() -> dict[str, list[int]]:
    """PostgreSQL's processes and the Kafka broker's, by name (local processes only)."""
    found: dict[str, list[int]] = {"postgresql": [], "kafka": []}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            name = stat.read_text().split("(", 1)[1].split(")", 1)[0]
            pid = int(stat.parent.name)
            if name.startswith("postgres"):
                found["postgresql"].append(pid)
            elif name == "java" and b"kafka.Kafka" in (stat.parent / "cmdline").read_bytes():
                found["kafka"].append(pid)
    return found


class CpuMeter:
    """CPU seconds used by named groups of processes between `start()` and `read()`: where a
    benchmark's work went, including the broker, the database and the load generator itself."""

    def __init__(self, groups: Mapping[str, Sequence[int]]) -> None:
        self._groups = {name: list(pids) for name, pids in groups.items()}
        self._started: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(p) for p in pids) for name, pids in self._groups.items()}

    def start(self) -> None:
        self._started = self._now()

    def read(self) -> dict[str, float]:
        now = self._now()
        return {name: round(now[name] - self._started[name], 2) for name in now}


# --------------------------------------------------------------------------- the machine


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def _kafka_version() -> str:
    """The version of the broker process on this machine (its jar folder), else deploy/local's."""
    with contextlib.suppress(OSError):
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            with contextlib.suppress(OSError):
                found = re.search(rb"kafka[-_](?:2\.1[23]-)?(\d+\.\d+\.\d+)", cmdline.read_bytes())
                if found:
                    return found.group(1).decode()
    pom = REPO_ROOT / "deploy" / "local" / "kafka" / "pom.xml"
    with contextlib.suppress(OSError):
        found_pom = re.search(r"<kafka.version>(.+?)</kafka.version>", pom.read_text())
        if found_pom:
            return f"{found_pom.group(1)} (deploy/local)"
    return "unknown"


async def _postgres_version() -> str:
    connection = await asyncpg.connect(asyncpg_dsn(infrastructure().database_url))
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


def _load_average() -> list[float]:
    with contextlib.suppress(OSError):
        return [round(x, 2) for x in os.getloadavg()]
    return []


async def machine() -> dict[str, object]:
    return {
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "kafka": _kafka_version(),
        "postgresql": await _postgres_version(),
        "load_average_at_start": _load_average(),
        "git_commit": _git_commit(),
    }


def _git_commit() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    return "unknown"


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency_summary(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """p50/p95/p99/max in milliseconds."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    return {
        "count": len(seconds),
        "p50_ms": ms(percentile(seconds, 0.50)),
        "p95_ms": ms(percentile(seconds, 0.95)),
        "p99_ms": ms(percentile(seconds, 0.99)),
        "max_ms": ms(max(seconds) if seconds else None),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)


# --------------------------------------------------------------------------- load


async def open_loop(
    rate: float,
    duration: float,
    send: Callable[[int], Awaitable[None]],
    max_in_flight: int = 512,
) -> int:
    """Start ``send(i)`` at ``rate`` per second for ``duration`` seconds, not waiting for answers
    (an open loop: a slow system does not slow the offered load), then wait for all of them.
    Beyond ``max_in_flight`` unanswered requests the generator waits, which bounds the run.
    Returns how many were started."""
    slots = asyncio.Semaphore(max_in_flight)
    tasks: list[asyncio.Task[None]] = []

    async def one(index: int) -> None:
        try:
            await send(index)
        finally:
            slots.release()

    start = time.monotonic()
    total = int(rate * duration)
    for index in range(total):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await slots.acquire()
        tasks.append(asyncio.create_task(one(index)))
    await asyncio.gather(*tasks, return_exceptions=True)
    return total


async def wait_until(
    check: Callable[[], Awaitable[bool]], within: float, interval: float = 0.2
) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(interval)
    return await check()


# --------------------------------------------------------------------------- the SMTP sink


class _Arrivals:
    """What the sink saw: the monotonic time each marker first arrived in a mail body."""

    def __init__(self, marker: re.Pattern[str]) -> None:
        self.marker = marker
        self.times: dict[str, float] = {}
        self.mails = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        arrived = time.monotonic()
        text = _plain_text(envelope.original_content or b"")
        with self.lock:
            self.mails += 1
            for found in self.marker.findall(text):
                self.times.setdefault(found, arrived)
        return "250 Message accepted for delivery"


def _plain_text(raw: bytes) -> str:
    """The mail's text/plain parts, decoded. Parsed with the email package's compat32 API: the
    sink shares the machine's two cores with the platform, and `policy.default`'s header
    registry cost it about 1 ms a mail, as it did notify (docs/performance.md)."""
    texts = []
    for part in message_from_bytes(raw).walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                texts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(texts)


class TimingSmtpSink:
    """A real SMTP server on 127.0.0.1 that timestamps the markers found in mail bodies."""

    def __init__(self, marker: str = r"bench-[0-9a-f]{12}") -> None:
        self.port = free_port()
        self._arrivals = _Arrivals(re.compile(marker))
        self._controller = Controller(self._arrivals, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> TimingSmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def arrival(self, marker: str) -> float | None:
        with self._arrivals.lock:
            return self._arrivals.times.get(marker)

    def arrived(self, markers: Sequence[str]) -> int:
        with self._arrivals.lock:
            return sum(1 for marker in markers if marker in self._arrivals.times)

    def arrivals_with(self, prefix: str) -> list[float]:
        """Arrival times of the markers starting with `prefix` (a closed loop's run)."""
        with self._arrivals.lock:
            return [t for m, t in self._arrivals.times.items() if m.startswith(prefix)]

    @property
    def mails(self) -> int:
        with self._arrivals.lock:
            return self._arrivals.mails


def marker() -> str:
    return f"bench-{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------- results


@dataclass
class Report:
    """What one benchmark hands back to the runner (``to_json`` is what lands in the file)."""

    name: str
    figures: dict[str, Any] = field(default_factory=dict)
    # name -> {"value": x, "meaning": "..."}: every ratio the summary prints
    ratios: dict[str, dict[str, Any]] = field(default_factory=dict)
    # name -> {"target": "...", "reached": "...", "met": bool}
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add_ratio(self, name: str, value: float | None, meaning: str) -> None:
        self.ratios[name] = {"value": value, "meaning": meaning}

    def add_target(
        self, name: str, target: str, reached: str, met: bool, baseline: str = ""
    ) -> None:
        self.targets[name] = {
            "target": target,
            "reached": reached,
            "baseline": baseline,
            "met": met,
        }

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "figures": self.figures,
            "ratios": self.ratios,
            "targets": self.targets,
            "notes": self.notes,
        }


def write_json(out_dir: Path, name: str, payload: Mapping[str, object]) -> Path:
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")
    return path


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    table = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*("—" if cell is None else str(cell) for cell in row))
    console.print(table)


@contextlib.contextmanager
def stage(what: str) -> Iterator[None]:
    started = time.monotonic()
    console.print(f"[dim]· {what}…[/dim]")
    yield
    console.print(f"[dim]  {what}: {time.monotonic() - started:.1f}s[/dim]")


def plot_lines(
    path: Path,
    title: str,
    x_label: str,
    y_label: str,
    series: Mapping[str, tuple[Sequence[float], Sequence[float | None]]],
) -> None:
    """One PNG with a line per series (matplotlib without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2))
    for label, (xs, ys) in series.items():
        points = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    axes.set_title(title)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
