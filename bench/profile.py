"""Sampling profiles of running service processes with py-spy (no change to their code).

``record`` attaches to a process for a while and writes collapsed stacks; ``hot_spots`` reads
them back as the share of samples in which a frame (or a whole library) was on the stack.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.common import track


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(pid: int, path: Path, seconds: int) -> subprocess.Popen[bytes] | None:
    """Start sampling ``pid`` for ``seconds`` into ``path`` (collapsed stacks); None without
    py-spy (``uv run --group bench``) or where the system forbids attaching."""
    binary = py_spy()
    if binary is None:
        return None
    process = subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            "50",
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    track(process)
    return process


LIBRARIES = {
    "sqlalchemy": "SQLAlchemy (Core/ORM, compile, result)",
    "asyncpg": "asyncpg (driver)",
    "aiokafka": "aiokafka",
    "pydantic": "pydantic (validation)",
    "cloudevents": "cloudevents (envelope)",
    "opentelemetry": "OpenTelemetry",
    "linli_": "Linli code (own frames)",
    "jinja2": "Jinja2 (templates)",
    "prometheus_client": "Prometheus client",
    "asyncio": "asyncio (event loop)",
}


def hot_spots(path: Path, top: int = 12) -> dict[str, object]:
    """Share of samples with each library and each function on the stack (inclusive)."""
    if not path.exists():
        return {}
    libraries: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        for name in {key for key in LIBRARIES for frame in frames if key in frame}:
            libraries[name] += count
        for frame in set(frames):
            if "linli_" in frame or "sqlalchemy" in frame or "asyncpg" in frame:
                functions[frame] += count
    if not total:
        return {}
    return {
        "samples": total,
        "libraries": {
            LIBRARIES[name]: round(count / total, 3) for name, count in libraries.most_common()
        },
        "functions": {
            frame: round(count / total, 3) for frame, count in functions.most_common(top)
        },
    }
