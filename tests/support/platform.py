"""The platform as separate OS processes: per service an API (uvicorn) and a worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx

from linli_shared.auth import mint_dev_token
from linli_shared.settings import PlatformSettings
from tests.support.forking import FORKER, Forked
from tests.support.infra import free_port

SERVICES = ("registry", "inspections", "credit", "notify")
# A bound, not a speed requirement: eight processes importing the stack at once on a busy
# two-core machine have needed more than two minutes.
STARTUP_BOUND_SECONDS = 300.0


@dataclass
class ServiceProcess:
    name: str
    args: list[str]
    env: Mapping[str, str]
    log_path: Path
    forked: bool = True
    process: Forked | subprocess.Popen[bytes] | None = field(default=None, repr=False)
    terminated: bool = field(default=False, repr=False)

    def start(self) -> None:
        """`python -m linli *args`: forked from a parent that imported the stack once
        (tests/support/forking.py), or started anew, as on a pod (`forked=False`)."""
        self.terminated = False
        env = {**os.environ, **self.env}
        if self.forked:
            self.process = FORKER.start(self.args, env, self.log_path)
            return
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "linli", *self.args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def terminate(self) -> None:
        """SIGTERM without waiting (once: a second one makes uvicorn skip its graceful exit)."""
        if self.process is not None and self.process.poll() is None and not self.terminated:
            self.process.send_signal(signal.SIGTERM)
            self.terminated = True

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM and wait: the graceful path (drain, commit, leave the group)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL: the crash path."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Platform:
    def __init__(self, work_dir: Path, env: Mapping[str, str], *, forked: bool = True) -> None:
        """`forked`: the processes forked from a parent that imported the stack once (the
        tests: about 0.25 s of CPU each to be ready, not 2 s); False starts each anew, as on a
        pod, for measurements of the processes as they run there (bench/)."""
        self.work_dir = work_dir
        self.forked = forked
        self.env = dict(env)
        self.ports = {name: free_port() for name in SERVICES}
        # Notify's worker fetches subject keys from the registry's API as notify's service
        # principal (the key_reader role), as on Kubernetes.
        self.env.setdefault("LINLI_NOTIFY_REGISTRY_URL", self.url("registry"))
        self.env.setdefault("LINLI_NOTIFY_REGISTRY_TOKEN", notify_token())
        # Inspections' API seals inspectors' notes under the subject's key, fetched the same way
        # as inspections' own principal.
        self.env.setdefault("LINLI_INSPECTIONS_REGISTRY_URL", self.url("registry"))
        self.env.setdefault("LINLI_INSPECTIONS_REGISTRY_TOKEN", inspections_token())
        self.apis = {
            name: ServiceProcess(
                f"{name}-api",
                ["serve", name, "--port", str(self.ports[name])],
                self.env,
                work_dir / f"{name}-api.log",
                forked,
            )
            for name in SERVICES
        }
        self.extra_workers: list[ServiceProcess] = []
        self.metrics_ports = {name: free_port() for name in SERVICES}
        self.workers = {
            name: ServiceProcess(
                f"{name}-worker",
                ["worker", name],
                {**self.env, "LINLI_METRICS_PORT": str(self.metrics_ports[name])},
                work_dir / f"{name}-worker.log",
                forked,
            )
            for name in SERVICES
        }

    def spawn_worker(self, service: str) -> ServiceProcess:
        """Another replica of a service's worker, in the same consumer groups."""
        replica = ServiceProcess(
            f"{service}-worker-{len(self.extra_workers) + 2}",
            ["worker", service],
            self.env,
            self.work_dir / f"{service}-worker-{len(self.extra_workers) + 2}.log",
            self.forked,
        )
        self.extra_workers.append(replica)
        replica.start()
        return replica

    def database_url(self, service: str) -> str:
        return self.env[f"LINLI_{service.upper()}_DATABASE_URL"]

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def migrate(self) -> str:
        """`linli migrate all`, as the deployment's migrations job runs it; returns its output."""
        result = subprocess.run(
            [sys.executable, "-m", "linli", "migrate", "all"],
            env={**os.environ, **self.env},
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout

    def start(self) -> None:
        """Start every API and worker on databases already migrated; wait until all are ready."""
        for process in [*self.apis.values(), *self.workers.values()]:
            process.start()
        self._wait_all_ready()

    def restore(self) -> None:
        """Back to one ready API and worker per service, whatever a test stopped, killed or
        added."""
        for replica in self.extra_workers:
            replica.stop()
        self.extra_workers.clear()
        for process in [*self.apis.values(), *self.workers.values()]:
            if not process.running:
                process.start()
        self._wait_all_ready()

    def _wait_all_ready(self) -> None:
        for name in SERVICES:
            self.wait_ready(name)
        for name in SERVICES:
            self.wait_worker_ready(name)

    def wait_ready(self, service: str, timeout: float = STARTUP_BOUND_SECONDS) -> None:
        _wait_ready(self.apis[service], f"{self.url(service)}/readyz", timeout)

    def wait_worker_ready(self, service: str, timeout: float = STARTUP_BOUND_SECONDS) -> None:
        """Database and broker answer, and its consumers have joined their groups."""
        url = f"http://127.0.0.1:{self.metrics_ports[service]}/readyz"
        _wait_ready(self.workers[service], url, timeout)

    @property
    def processes(self) -> list[ServiceProcess]:
        return [*self.apis.values(), *self.workers.values(), *self.extra_workers]

    def stop(self) -> None:
        """SIGTERM to every process at once, then wait for each: they drain side by side."""
        for process in self.processes:
            process.terminate()
        for process in reversed(self.processes):
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log_tail()}" for p in self.processes)


def notify_token() -> str:
    """Notify's service principal, as the identity provider would issue it: `key_reader` only."""
    settings = PlatformSettings()
    return mint_dev_token(settings, "linli-notify", ["key_reader"], ttl=timedelta(days=1))


def inspections_token() -> str:
    """Inspections' service principal: `key_reader` only, to seal inspectors' notes."""
    settings = PlatformSettings()
    return mint_dev_token(settings, "linli-inspections", ["key_reader"], ttl=timedelta(days=1))


def _wait_ready(process: ServiceProcess, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.running:
            raise RuntimeError(f"{process.name} exited:\n{process.log_tail()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{process.name} not ready:\n{process.log_tail()}")
