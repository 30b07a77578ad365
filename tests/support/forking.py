"""The platform's processes, forked from one Python that has imported the stack once.

Each API and worker is `python -m linli …` as on a pod, but started by forking a parent that has
already imported what every one of them imports (FastAPI, SQLAlchemy, alembic, aiokafka, the
four services), as gunicorn's `--preload` does. Started anew, a service process spends about
2 s of CPU on this machine before it is ready, nearly all of it importing; forked, about 0.25 s.
The suite is bound by its CPU (two cores busy 92 % of its run), and it starts eight such
processes per platform and again after every crash a fault test causes: the modules that start
platforms of their own take about 40 % less time.

Only the tests' platforms are forked: `bench/` starts its processes anew, as on a pod
(`Platform(forked=False)`), and the tests of the command line itself (`linli token`, `linli run`,
`linli serve` refusing a production setting) run `python -m linli` as a user would.

The parent (`python -m tests.support.forking`, one per test process) reads a request a line from
its stdin and answers a line on its stdout:
- `{"start": [args], "env": {…}, "log": path}` → `{"pid": n}`: forks a child that replaces its
  environment, points its output at the log and runs `linli` with the args;
- `{"reap": n}` → `{"code": c}`: the child's exit code, once it has exited (negative: the
  signal that ended it), as `subprocess.Popen.returncode` says it.
A child stays the parent's zombie until it is reaped, so its PID cannot be reused while the test
process holds a pidfd to it: `Forked` signals and waits through that pidfd, never by a bare PID.
When the test process ends (the parent's stdin closes), the parent kills what is left.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import select
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]

# What every API and worker imports on its way up (the services' apps import the rest of the
# platform and the libraries); the drivers and protocol modules they import only once running.
PRELOAD = (
    "linli.cli",
    "linli_registry.app",
    "linli_inspections.app",
    "linli_credit.app",
    "linli_notify.app",
    "asyncpg",
    "sqlalchemy.dialects.postgresql.asyncpg",
    "aiokafka",
    "aiosmtplib",
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.websockets.auto",
)


class Forked:
    """A forked service process, with the part of `subprocess.Popen`'s interface the platform
    uses (`pid`, `poll`, `wait`, `send_signal`, `terminate`, `kill`, `returncode`)."""

    def __init__(self, forker: Forker, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._forker = forker
        self._handle = os.pidfd_open(pid)

    def poll(self) -> int | None:
        if self.returncode is None and _readable(self._handle, 0):
            self._reap()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not _readable(self._handle, timeout):
                raise subprocess.TimeoutExpired(f"linli (pid {self.pid})", timeout or 0)
            self._reap()
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            signal.pidfd_send_signal(self._handle, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _reap(self) -> None:
        self.returncode = self._forker.reap(self.pid)
        os.close(self._handle)


class Forker:
    """The test process's side: starts the parent on first use and asks it for children."""

    def __init__(self) -> None:
        self._parent: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start(self, args: list[str], env: Mapping[str, str], log: Path) -> Forked:
        answer = self._ask({"start": args, "env": dict(env), "log": str(log)})
        return Forked(self, int(answer["pid"]))

    def reap(self, pid: int) -> int:
        return int(self._ask({"reap": pid})["code"])

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            parent = self._running()
            assert parent.stdin is not None and parent.stdout is not None
            parent.stdin.write(json.dumps(request).encode() + b"\n")
            parent.stdin.flush()
            line = parent.stdout.readline()
            if not line:
                said = self._log.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"the forking parent ended (exit {parent.wait()}):\n{said}")
            answer: dict[str, Any] = json.loads(line)
            return answer

    def _running(self) -> subprocess.Popen[bytes]:
        if self._parent is None or self._parent.poll() is not None:
            self._log.parent.mkdir(parents=True, exist_ok=True)
            with self._log.open("ab") as log:
                self._parent = subprocess.Popen(
                    [sys.executable, "-m", "tests.support.forking", str(self._log)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    cwd=REPO,
                )
        return self._parent

    @property
    def _log(self) -> Path:
        """What the parent says (an import that fails): not the output of the test that happened
        to start it first."""
        return REPO / ".local" / "test-runs" / f"forking-{os.getpid()}.log"


FORKER = Forker()


def _readable(handle: int, timeout: float | None) -> bool:
    ready, _, _ = select.select([handle], [], [], timeout)
    return bool(ready)


# --- the parent ------------------------------------------------------------------------------


def main(log: Path) -> int:
    """`log`: where this parent's own output goes (its stderr), removed at the end if empty."""
    for module in PRELOAD:
        importlib.import_module(module)
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    children: set[int] = set()
    while line := requests.readline():
        request = json.loads(line)
        if "start" in request:
            answers.flush()
            pid = os.fork()
            if pid == 0:
                return _child(request["start"], request["env"], request["log"])
            children.add(pid)
            _answer(answers, {"pid": pid})
        else:
            pid = int(request["reap"])
            _, status = os.waitpid(pid, 0)
            children.discard(pid)
            _answer(answers, {"code": os.waitstatus_to_exitcode(status)})
    for pid in children:  # the test process ended without stopping these
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    if log.stat().st_size == 0:
        log.unlink()
    return 0


def _answer(answers: IO[bytes], answer: dict[str, Any]) -> None:
    answers.write(json.dumps(answer).encode() + b"\n")
    answers.flush()


def _child(args: list[str], env: dict[str, str], log: str) -> int:
    """`python -m linli *args`, in this forked child; returns its exit code (main() returns it
    to `sys.exit`, so the interpreter ends as any process does: threads joined, atexit run)."""
    output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    nothing = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nothing, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    os.close(nothing)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = ["linli", *args]
    try:
        runpy.run_module("linli", run_name="__main__", alter_sys=True)
    except SystemExit as end:
        if end.code is None or isinstance(end.code, int):
            return end.code or 0
        print(end.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
