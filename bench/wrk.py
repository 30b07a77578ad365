"""The load generator of the HTTP benches: `wrk` (Debian package), its CPU reported apart.

wrk is a C event-loop client: on one thread it drives several times what one uvicorn worker
serves, so the figure is the server's, not the generator's. `bench/install-tools.sh` installs it
when it is missing. A run whose generator ceiling (wrk against a framework-less app) is under
`CEILING_MIN_RPS`, or under `HEADROOM` times the bare FastAPI baseline, says it is invalid:
either the machine was busy or the generator was the bottleneck.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INSTALLER = REPO / "bench" / "install-tools.sh"
# The generator must drive at least this much against a framework-less ASGI app under the same
# uvicorn (the run's ceiling), and at least HEADROOM times the bare FastAPI baseline: then that
# baseline is FastAPI's own limit, not the generator's nor the machine's other load.
CEILING_MIN_RPS = 10_000.0
HEADROOM = 2.0

_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nBENCH-JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"mean_us":%.1f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean))
end
"""


def ensure_wrk() -> str:
    """wrk's path; installed by `bench/install-tools.sh` (apt-get) when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["bash", str(INSTALLER)], check=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError(f"wrk is not installed and {INSTALLER} did not install it")
    return found


@dataclass(frozen=True)
class WrkResult:
    name: str
    requests: int
    errors: int  # connect/read/write/timeout errors and non-2xx/3xx answers
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    generator_cpu_seconds: float
    connections: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def generator_cpu_ms_per_request(self) -> float:
        return 1000 * self.generator_cpu_seconds / self.requests if self.requests else 0.0

    def summary(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 2),
            "connections": self.connections,
            "rps": round(self.rate, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p95_ms": round(self.p95_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "mean_ms": round(self.mean_ms, 2),
            "generator": "wrk",
            "generator_cpu_ms_per_request": round(self.generator_cpu_ms_per_request, 4),
            "generator_cores": round(self.generator_cpu_seconds / self.seconds, 2)
            if self.seconds
            else 0.0,
        }


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for ASCII


def get_script(paths: Sequence[str]) -> str:
    """GETs cycling over `paths` (the headers given with -H ride along)."""
    listed = ",\n".join(_lua_string(p) for p in paths)
    return (
        f"local paths = {{\n{listed}\n}}\nlocal i = 0\n"
        "request = function()\n  i = i + 1\n"
        "  return wrk.format(nil, paths[(i % #paths) + 1])\nend\n" + _REPORT
    )


async def run_wrk(
    name: str,
    url: str,
    script: str,
    *,
    headers: Mapping[str, str] | None = None,
    connections: int = 16,
    seconds: float = 5.0,
    threads: int = 1,
    timeout_s: float = 10.0,
) -> WrkResult:
    """One closed-loop wrk run; its own CPU (user + system) from the kernel's accounting."""
    wrk = ensure_wrk()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
        script_path = file.name
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s:.0f}s",
        "-s",
        script_path,
    ]
    for header, value in (headers or {}).items():
        command += ["-H", f"{header}: {value}"]
    command.append(url)
    try:
        output, cpu = await asyncio.to_thread(_run_measured, command)
    finally:
        os.unlink(script_path)
    report = _parse(output, command)
    errors = sum(int(report[k]) for k in ("connect", "read", "write", "status", "timeout"))
    return WrkResult(
        name=name,
        requests=int(report["requests"]) - int(report["status"]),
        errors=errors,
        seconds=float(report["duration_us"]) / 1e6,
        p50_ms=float(report["p50_us"]) / 1000,
        p95_ms=float(report["p95_us"]) / 1000,
        p99_ms=float(report["p99_us"]) / 1000,
        mean_ms=float(report["mean_us"]) / 1000,
        generator_cpu_seconds=cpu,
        connections=connections,
    )


def _run_measured(command: list[str]) -> tuple[str, float]:
    """Run to the end; stdout and the child's own CPU seconds (wait4's rusage)."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as process:
        assert process.stdout is not None
        output = process.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:6])} … exited {process.returncode}: {output}")
    return output, usage.ru_utime + usage.ru_stime


def _parse(output: str, command: Sequence[str]) -> dict[str, float]:
    for line in output.splitlines():
        if line.startswith("BENCH-JSON "):
            parsed: dict[str, float] = json.loads(line.removeprefix("BENCH-JSON "))
            return parsed
    raise RuntimeError(f"no report from {' '.join(command[:6])} …: {output}")


def inspection_script(
    households: Sequence[str], marker_prefix: str, body_template: str, max_requests: int
) -> str:
    """POSTs of failed inspections, each with a unique marker `bench-<prefix><counter>` (the
    notice quotes it, so the SMTP sink counts what came through); stops after `max_requests`.

    `body_template` is JSON with `%HOUSEHOLD%` and `%MARKER%` where those go.
    """
    if len(marker_prefix) != 6:
        raise ValueError("the marker prefix is 6 hex digits (the sink's markers have 12)")
    listed = ",\n".join(_lua_string(h) for h in households)
    head, rest = body_template.split("%HOUSEHOLD%", 1)
    middle, tail = rest.split("%MARKER%", 1)
    return (
        f"local households = {{\n{listed}\n}}\n"
        f"local head, middle, tail = {_lua_string(head)}, {_lua_string(middle)}, "
        f"{_lua_string(tail)}\n"
        f"local prefix, limit = {_lua_string(marker_prefix)}, {max_requests}\n"
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        "local sent, answered = 0, 0\n"
        "request = function()\n  sent = sent + 1\n"
        "  local body = head .. households[(sent % #households) + 1] .. middle ..\n"
        '    string.format("bench-%s%06x", prefix, sent) .. tail\n'
        "  return wrk.format(nil, nil, nil, body)\nend\n"
        "response = function(status, headers, body)\n  answered = answered + 1\n"
        "  if answered >= limit then wrk.thread:stop() end\nend\n" + _REPORT
    )
