"""The platform's processes are forked from a parent that imported the stack once
(tests/support/forking.py): each must still be `python -m linli …` with its own environment and
output, end as its command ends, and be stopped and killed as a process started anew is."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.forking import FORKER, Forked
from tests.support.infra import free_port

pytestmark = pytest.mark.servers  # starts processes of the stack


def test_a_forked_command_runs_in_the_environment_it_is_given(tmp_path: Path) -> None:
    """The parent's environment is the test process's of its start; each child's is its own."""
    minted = FORKER.start(["token"], {**os.environ, "LINLI_ENVIRONMENT": "test"}, tmp_path / "a")
    refused = FORKER.start(
        ["token"],
        {**os.environ, "LINLI_ENVIRONMENT": "prod", "LINLI_AUTH_DEV_SECRET": "x" * 40},
        tmp_path / "b",
    )

    assert minted.wait(timeout=60) == 0
    assert (tmp_path / "a").read_text().count(".") == 2  # a JWT: header.claims.signature
    assert refused.wait(timeout=60) == _started_anew(["token"], "prod") == 2
    assert "production refuses the dev signing key" in (tmp_path / "b").read_text()
    assert minted.poll() == 0 and refused.returncode == 2


def test_a_forked_command_that_fails_says_so_in_its_exit_code(tmp_path: Path) -> None:
    log = tmp_path / "unknown.log"

    child = FORKER.start(["no-such-command"], dict(os.environ), log)

    assert child.wait(timeout=60) == _started_anew(["no-such-command"], "test") == 2
    assert "no-such-command" in log.read_text()


def test_a_forked_api_serves_stops_on_sigterm_and_dies_on_sigkill(tmp_path: Path) -> None:
    env = {**os.environ, "LINLI_CREDIT_DATABASE_URL": f"sqlite:///{tmp_path / 'credit.db'}"}
    ports = [free_port(), free_port(), free_port()]
    serve = [["serve", "credit", "--port", str(port)] for port in ports]
    stopped, killed = (FORKER.start(args, env, tmp_path / f"{args[-1]}.log") for args in serve[:2])
    with (tmp_path / "anew.log").open("ab") as log:  # the reference: subprocess, as on a pod
        anew = subprocess.Popen(
            [sys.executable, "-m", "linli", *serve[2]], env=env, stdout=log, stderr=log
        )
    try:
        apis: list[Forked | subprocess.Popen[bytes]] = [stopped, killed, anew]
        for port, api in zip(ports, apis, strict=True):
            _until_it_answers(f"http://127.0.0.1:{port}/healthz", api)

        stopped.send_signal(signal.SIGTERM)
        anew.send_signal(signal.SIGTERM)
        killed.kill()

        # uvicorn shuts down, then ends by the signal it caught, as the process started anew does
        assert stopped.wait(timeout=30) == anew.wait(timeout=30) == -signal.SIGTERM
    finally:
        anew.kill()
        anew.wait()
    assert "Finished server process" in (tmp_path / f"{ports[0]}.log").read_text()
    assert killed.wait(timeout=30) == -signal.SIGKILL
    assert killed.poll() == -signal.SIGKILL
    killed.kill()  # a reaped child is not signalled again (its PID may be another's by now)


def _started_anew(args: list[str], environment: str) -> int:
    """The reference: the same command run by subprocess, not forked."""
    env = {**os.environ, "LINLI_ENVIRONMENT": environment, "LINLI_AUTH_DEV_SECRET": "x" * 40}
    command = [sys.executable, "-m", "linli", *args]
    return subprocess.run(command, env=env, capture_output=True, timeout=60).returncode


def _until_it_answers(url: str, api: Forked | subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert api.poll() is None, f"exited with {api.returncode}"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(url)
