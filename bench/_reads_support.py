"""What the API-read and cost-growth benches share: PostgreSQL, servers, a load generator, output.

The load generator is wrk (bench/wrk.py): a C client that on one thread drives several times what
one uvicorn worker serves, its own CPU reported apart. `get` is a single raw request for set-up
checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from linli_shared.migrations import upgrade

REPO = Path(__file__).resolve().parent.parent
console = Console(width=None if sys.stdout.isatty() else 160)


# --- PostgreSQL ---------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_admin_url() -> Any:
    """The admin URL of a PostgreSQL: LINLI_TEST_DATABASE_URL's, or a local one started here."""
    external = os.environ.get("LINLI_TEST_DATABASE_URL")
    if external:
        yield external
        return
    from tests.support.infra import start_postgres

    base = REPO / ".local" / "bench-infra"
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base) as directory:
        service = start_postgres(Path(directory))
        try:
            yield service.url
        finally:
            service.close()


async def _admin(admin_url: str) -> asyncpg.Connection:
    url = make_url(admin_url)
    return await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database or "postgres",
    )


@contextlib.asynccontextmanager
async def fresh_database(admin_url: str, service: str) -> AsyncIterator[str]:
    """A new database with the service's migrations applied; dropped afterwards."""
    name = f"bench_{service}_{uuid.uuid4().hex[:8]}"
    admin = await _admin(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrations = REPO / "services" / service / "src" / f"linli_{service}" / "migrations"
        await asyncio.to_thread(upgrade, migrations, url)
        yield url
    finally:
        admin = await _admin(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def connect(url: str) -> asyncpg.Connection:
    return await _admin(url)


# --- servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    port: int
    pid: int

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the server process has used so far; None off Linux."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def server(target: str, env: Mapping[str, str] | None = None) -> AsyncIterator[Server]:
    """`bench._reads_server <target>` on a free 127.0.0.1 port, one uvicorn worker."""
    port = free_port()
    log_dir = REPO / ".local" / "bench-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = (log_dir / f"{target}-{port}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench._reads_server",
        target,
        str(port),
        cwd=REPO,
        env={**os.environ, "LINLI_LOG_LEVEL": "WARNING", **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        await _wait_ready(port, process)
        yield Server(port, process.pid)
    finally:
        process.send_signal(signal.SIGINT)  # uvicorn's graceful stop (and profile dump)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()


async def _wait_ready(port: int, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 180  # a busy shared machine starts processes slowly
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"server on port {port} exited ({process.returncode}); see logs")
        with contextlib.suppress(OSError):
            status, _ = await get(port, "/healthz")
            if status == 200:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"server on port {port} not ready in 180 s")


# --- the load generator -------------------------------------------------------------------------


@dataclass
class LoadResult:
    name: str
    requests: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    concurrency: int = 0
    server_cpu_seconds: float | None = None
    percentiles_ms: dict[float, float] = field(default_factory=dict)  # wrk's (no latency list)
    mean_ms: float | None = None
    generator_cpu_seconds: float | None = None

    @property
    def cpu_ms_per_request(self) -> float | None:
        """Server CPU per answered request: stable even when other work shares the machine."""
        if self.server_cpu_seconds is None or not self.requests:
            return None
        return 1000 * self.server_cpu_seconds / self.requests

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        """Milliseconds."""
        if p in self.percentiles_ms:
            return self.percentiles_ms[p]
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.elapsed, 2),
            "concurrency": self.concurrency,
            "rps": round(self.rate, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p95_ms": round(self.percentile(95), 2),
            "p99_ms": round(self.percentile(99), 2),
            "mean_ms": round(1000 * statistics.fmean(self.latencies), 2)
            if self.latencies
            else round(self.mean_ms or 0.0, 2),
            "generator_cpu_ms_per_request": (
                round(1000 * self.generator_cpu_seconds / self.requests, 4)
                if self.generator_cpu_seconds is not None and self.requests
                else None
            ),
            "server_cpu_ms_per_request": (
                None if self.cpu_ms_per_request is None else round(self.cpu_ms_per_request, 3)
            ),
        }


def _request(path: str, headers: Mapping[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def get(port: int, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    """One request on its own connection (setup and checks, not load)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await _exchange(reader, writer, _request(path, headers or {}))
    finally:
        writer.close()


async def load(
    name: str,
    target: Server,
    paths: Sequence[str],
    *,
    headers: Mapping[str, str] | None = None,
    concurrency: int = 16,
    seconds: float = 5.0,
    warmup: float = 1.0,
) -> LoadResult:
    """Closed-loop load by wrk (bench/wrk.py): `concurrency` keep-alive connections, each sending
    its next request when the last answer arrived, for `seconds` after a `warmup` run."""
    from bench import wrk

    url = f"http://127.0.0.1:{target.port}"
    script = wrk.get_script(paths)
    if warmup:
        await wrk.run_wrk(
            name, url, script, headers=headers, connections=concurrency, seconds=warmup
        )
    before = target.cpu_seconds()
    ran = await wrk.run_wrk(
        name, url, script, headers=headers, connections=concurrency, seconds=seconds
    )
    after = target.cpu_seconds()
    return LoadResult(
        name,
        requests=ran.requests,
        errors=ran.errors,
        elapsed=ran.seconds,
        concurrency=concurrency,
        server_cpu_seconds=None if before is None or after is None else after - before,
        percentiles_ms={50: ran.p50_ms, 95: ran.p95_ms, 99: ran.p99_ms},
        mean_ms=ran.mean_ms,
        generator_cpu_seconds=ran.generator_cpu_seconds,
    )


# --- output -------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        memory = f"{int(first.split()[1]) // 1024 // 1024} GiB"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "python": platform.python_version(),
        "system": platform.platform(),
        "note": "shared machine: other work may run alongside; compare ratios within one run",
    }


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    view = Table(title=title)
    for column in columns:
        view.add_column(column, justify="left" if column == columns[0] else "right")
    for row in rows:
        view.add_row(*(_cell(value) for value in row))
    console.print(view)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return str(value)


def write_json(out_dir: Path, name: str, data: Mapping[str, Any]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def bar_chart(
    out_dir: Path, name: str, title: str, labels: Sequence[str], values: Sequence[float], unit: str
) -> Path | None:
    """A PNG bar chart when matplotlib is installed; None otherwise."""
    try:
        import matplotlib  # type: ignore[import-not-found,unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    figure, axes = plt.subplots(figsize=(8, 4))
    axes.barh(list(labels), list(values))
    axes.set_xlabel(unit)
    axes.set_title(title)
    figure.tight_layout()
    path = out_dir / f"{name}.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def ratio(value: float, baseline: float) -> float:
    return round(value / baseline, 2) if baseline else float("nan")
