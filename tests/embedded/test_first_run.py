"""What a new user does: `linli run`, then `linli demo` — and the platform restarted mid-story.

The README's run command is started as a process (its core: `python -m linli run`; installing
into a fresh environment is the CI fresh clone's job). While the demo is recording inspections,
the platform gets SIGTERM and is started again on the same data folder; the demo rides it out.
Afterwards nothing may be lost or doubled: one ledger entry, one score change and one
rectification notice per failed inspection, each notice delivered and e-mailed exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest

from linli_shared.auth import mint_dev_token
from linli_shared.settings import PlatformSettings
from tests.support.infra import free_port

pytestmark = pytest.mark.servers  # runs `linli run` as a process of its own

STARTUP_BOUND_SECONDS = 180.0
DEMO_BOUND_SECONDS = 400.0


def _environment() -> dict[str, str]:
    """The user's environment, without any Linli setting that would point elsewhere."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    environment.update(
        {
            "LINLI_ENVIRONMENT": "test",
            "PYTHONUNBUFFERED": "1",
            "PYTHONIOENCODING": "utf-8",
            "COLUMNS": "300",  # the demo's lines unwrapped, to read them
        }
    )
    return environment


class LinliRun:
    """`python -m linli run` as a process, with its output in a log file."""

    def __init__(self, port: int, data_dir: Path, log_path: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._args = ["run", "--port", str(port), "--data-dir", str(data_dir)]
        self._log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> LinliRun:
        with self._log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "linli", *self._args],
                env=_environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_BOUND_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"linli run exited {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"linli run not ready:\n{self.log()}")

    def terminate(self) -> int:
        """SIGTERM, and the exit code once it has drained."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=120)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self._log_path.read_text(errors="replace")[-6000:]

    def full_log(self) -> str:
        return self._log_path.read_text(errors="replace")


@pytest.fixture
def runs() -> Iterator[list[LinliRun]]:
    started: list[LinliRun] = []
    yield started
    for run in started:
        run.kill()


class Demo:
    """`python -m linli demo` as a process; its output is read as it comes."""

    def __init__(self, url: str, json_path: Path) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "linli",
                "demo",
                "--url",
                url,
                "--timeout",
                str(STARTUP_BOUND_SECONDS),
                "--json",
                str(json_path),
            ],
            env=_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: list[str] = []
        self._new_line = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            with self._new_line:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._new_line.notify_all()
        with self._new_line:
            self._new_line.notify_all()

    def wait_for_line(self, marker: str) -> None:
        deadline = time.monotonic() + DEMO_BOUND_SECONDS
        with self._new_line:
            while not any(marker in line for line in self.lines):
                if not self._reader.is_alive() or time.monotonic() > deadline:
                    raise AssertionError(f"the demo never printed {marker!r}:\n{self.output}")
                self._new_line.wait(timeout=1.0)

    def finish(self) -> int:
        code = self.process.wait(timeout=DEMO_BOUND_SECONDS)
        self._reader.join(timeout=10)
        return code

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def test_first_run_survives_a_restart_in_the_middle_of_the_story(
    tmp_path: Path, runs: list[LinliRun]
) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    first = LinliRun(port, data_dir, tmp_path / "run-1.log").start()
    runs.append(first)
    first.wait_ready()
    _check_each_service_has_its_own_api_and_docs(first.url)
    _check_a_second_run_on_the_same_data_is_refused(data_dir, tmp_path, runs)

    summary_path = tmp_path / "demo.json"
    demo = Demo(first.url, summary_path)
    try:
        # The first failed inspection is recorded; its events are on their way: stop now.
        demo.wait_for_line("✗ failed")
        assert first.terminate() == 0, first.log()
        second = LinliRun(port, data_dir, tmp_path / "run-2.log").start()
        runs.append(second)
        second.wait_ready()
        assert demo.finish() == 0, demo.output
    finally:
        demo.kill()
    assert "does not answer; retrying" in demo.output, "the restart went unnoticed"

    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    _check_nothing_was_lost_or_doubled(second.url, summary, data_dir / "mail")
    assert second.terminate() == 0, second.log()
    _check_the_data_stays_private(data_dir, [first.full_log(), second.full_log()])


def _check_the_data_stays_private(data_dir: Path, logs: list[str]) -> None:
    """The folder and all in it readable by its owner only; no e-mail address in the logs."""
    modes = {
        str(path.relative_to(data_dir)): stat.S_IMODE(path.stat().st_mode)
        for path in [data_dir, *data_dir.rglob("*")]
    }
    wanted = {name: 0o700 if (data_dir / name).is_dir() else 0o600 for name in modes}
    assert modes == wanted
    assert any(name.endswith(".eml") for name in modes)
    assert all("@example.cn" not in log for log in logs), "a caught mail's address was logged"


def _check_each_service_has_its_own_api_and_docs(url: str) -> None:
    for service in ("registry", "inspections", "credit", "notify"):
        docs = httpx.get(f"{url}/{service}/docs", timeout=10)
        assert docs.status_code == 200
        assert f"/{service}/openapi.json" in docs.text
        schema = httpx.get(f"{url}/{service}/openapi.json", timeout=10).json()
        assert schema["info"]["title"] == f"Linli {service}"
        assert any(path.startswith("/v1/") for path in schema["paths"])
    token = mint_dev_token(PlatformSettings(), "tester", ["community_staff"])
    unknown = httpx.get(
        f"{url}/registry/v1/households/00000000-0000-0000-0000-000000000000",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert unknown.status_code == 404


def _check_a_second_run_on_the_same_data_is_refused(
    data_dir: Path, tmp_path: Path, runs: list[LinliRun]
) -> None:
    """Two processes on one data folder would both consume every group: the second stops."""
    intruder = LinliRun(free_port(), data_dir, tmp_path / "intruder.log").start()
    runs.append(intruder)
    assert intruder.process is not None
    assert intruder.process.wait(timeout=STARTUP_BOUND_SECONDS) != 0
    assert "another `linli run` is using" in intruder.log()


def _check_nothing_was_lost_or_doubled(url: str, summary: dict[str, Any], mail_dir: Path) -> None:
    token = mint_dev_token(PlatformSettings(), "tester", ["credit_officer"])
    failures: Counter[str] = Counter(
        i["household_id"] for i in summary["inspections"] if i["outcome"] == "failed"
    )
    assert sum(failures.values()) == 4
    assert len(summary["households"]) == 10

    notice_ids: set[str] = set()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        for household in summary["households"]:
            hid, who = household["id"], household["head"]
            entries = client.get(f"/credit/v1/subjects/{hid}/entries").json()["items"]
            failed_entries = [e for e in entries if e["reason_code"] == "inspection.failed"]
            assert len(failed_entries) == failures[hid], (who, entries)
            assert all(e["points"] < 0 for e in failed_entries)
            assert len({e["source_event_id"] for e in entries}) == len(entries), who
            score = client.get(f"/credit/v1/subjects/{hid}/score").json()
            points = sum(e["points"] for e in entries)
            assert score["score"] == household["opening_score"] + points, (who, score, entries)

            notices = _settled_notices(client, hid)
            kinds = Counter(n["notice_type"] for n in notices)
            assert kinds["rectification"] == failures[hid], (who, kinds)
            assert kinds["score_change"] == len([e for e in entries if e["points"]]), (who, kinds)
            causes = Counter((n["source_event_id"], n["notice_type"]) for n in notices)
            assert set(causes.values()) <= {1}, f"{who}: one event made two notices of a kind"
            for notice in notices:
                detail = client.get(f"/notify/v1/notices/{notice['id']}").json()
                assert [d["status"] for d in detail["deliveries"]] == ["delivered"], who
                notice_ids.add(notice["id"])

    mailed = Counter(
        str(message_from_bytes(path.read_bytes(), policy=policy.default)["X-Linli-Notice-Id"])
        for path in mail_dir.glob("*.eml")
    )
    assert set(mailed) == notice_ids
    assert set(mailed.values()) == {1}, "a notice was e-mailed twice"


def _settled_notices(client: httpx.Client, household_id: str) -> list[dict[str, Any]]:
    """The household's notices once none is pending any more (the dispatcher is asynchronous)."""
    deadline = time.monotonic() + STARTUP_BOUND_SECONDS
    while True:
        notices: list[dict[str, Any]] = client.get(
            "/notify/v1/notices", params={"recipient_id": household_id, "limit": 200}
        ).json()["items"]
        if all(n["status"] == "delivered" for n in notices):
            return notices
        assert time.monotonic() < deadline, f"notices not delivered: {notices}"
        time.sleep(0.3)
