"""Start/stop/restart Kafka and PostgreSQL for the test suite.

Three flavours of each service, chosen by :func:`start_kafka` / :func:`start_postgres`:

* **external** -- ``LINLI_TEST_KAFKA_BOOTSTRAP`` / ``LINLI_TEST_DATABASE_URL`` is set (for
  example by ``deploy/local/up.sh``): the service is used as is and cannot be stopped,
  so fault tests must skip (``supports_faults`` is ``False``, ``start``/``stop``/``kill``/
  ``restart`` raise :class:`NotImplementedError`);
* **container** -- a Docker engine answers (testcontainers); forced off with
  ``LINLI_TEST_INFRA=local``;
* **local** -- real processes on 127.0.0.1 started by ``deploy/local/kafka.sh`` and
  ``deploy/local/postgres.sh`` (no Docker needed).

Every object is returned already started.  ``stop()`` stops the service but keeps its
data (``start()`` brings it back on the same port, so clients can reconnect);
``close()`` is the teardown call (idempotent, a no-op for external services).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import random
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

__all__ = [
    "REPO_ROOT",
    "ContainerKafka",
    "ContainerPostgres",
    "ExternalKafka",
    "ExternalPostgres",
    "InfraError",
    "KafkaService",
    "LocalKafka",
    "LocalPostgres",
    "PostgresService",
    "docker_available",
    "free_port",
    "kafka_ready",
    "postgres_ready",
    "start_kafka",
    "start_postgres",
]

REPO_ROOT: Final[Path] = Path(__file__).resolve().parents[2]
_SCRIPTS: Final[Path] = REPO_ROOT / "deploy" / "local"
_KAFKA_SH: Final[Path] = _SCRIPTS / "kafka.sh"
_POSTGRES_SH: Final[Path] = _SCRIPTS / "postgres.sh"

# Generous: the first start may download the Kafka jars from Maven Central
# or apt-get install PostgreSQL.
_SCRIPT_TIMEOUT_S: Final[float] = 900.0
_CONTAINER_READY_TIMEOUT_S: Final[float] = 120.0

KAFKA_IMAGE: Final[str] = os.environ.get("LINLI_TEST_KAFKA_IMAGE", "confluentinc/cp-kafka:7.6.0")
POSTGRES_IMAGE: Final[str] = os.environ.get("LINLI_TEST_POSTGRES_IMAGE", "postgres:16-alpine")


# What one test process's cluster may grow to: a database (≈ 12 MB) per test that needs one.
_CLUSTER_BUDGET_BYTES: Final[int] = 8 * 2**30
_MEMORY_FS: Final[Path] = Path("/dev/shm")


def _test_cluster() -> dict[str, str]:
    """A test run's cluster: no autovacuum (deploy/local/postgres.sh says why), and, where the
    memory file system has room for every test process's cluster, its data there: on a disk
    (here a VM's, mounted with `discard`) copying a template per test and deleting gigabytes at
    the end are most of what a database costs the suite. The cluster lives in the shadow
    location whenever the postgres user cannot reach the test's folder (postgres.sh), as
    when the suite runs as root."""
    env = {"LINLI_PG_AUTOVACUUM": "off"}
    processes = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    with contextlib.suppress(OSError):
        stats = os.statvfs(_MEMORY_FS)
        if stats.f_bavail * stats.f_frsize >= processes * _CLUSTER_BUDGET_BYTES:
            env["LINLI_PG_SHADOW_ROOT"] = str(_MEMORY_FS / "linli-pg")
    return env


class InfraError(RuntimeError):
    """A helper script or container failed; the message carries its output."""


# Ports for the test's servers come from below the kernel's ephemeral range (32768–60999 on
# Linux): an outgoing connection, of which a run makes thousands, can then never take a port
# between the moment it is chosen and the moment its server binds it. Each test process
# (pytest-xdist worker) takes from its own slice and hands a port out once.
_PORTS = range(20000, 32000)
_handed_out: set[int] = set()


def _slice() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) if worker.isdigit() else 0
    count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), index + 1)
    size = len(_PORTS) // count
    return range(_PORTS.start + index * size, _PORTS.start + (index + 1) * size)


def free_port() -> int:
    """A TCP port on 127.0.0.1, free now and never handed out before by this process."""
    ports = _slice()
    start = random.randrange(len(ports))
    for step in range(len(ports)):
        port = ports[(start + step) % len(ports)]
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise InfraError(f"no free port left in {ports}")


def docker_available() -> bool:
    """True only if the ``docker`` package is importable and the engine answers a ping."""
    try:
        docker = importlib.import_module("docker")
        client = docker.from_env()
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _use_containers() -> bool:
    choice = os.environ.get("LINLI_TEST_INFRA", "auto").strip().lower()
    if choice == "local":
        return False
    if choice in ("docker", "container", "containers"):
        return True
    return docker_available()


def _run(script: Path, *args: str, env: Mapping[str, str] | None = None) -> None:
    try:
        subprocess.run(
            [str(script), *args],
            check=True,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=_SCRIPT_TIMEOUT_S,
            env={**os.environ, **env} if env is not None else None,
        )
    except subprocess.CalledProcessError as exc:
        output = "\n".join(part for part in (exc.stdout, exc.stderr) if part)
        raise InfraError(
            f"{script.name} {' '.join(args)} failed with exit code {exc.returncode}:\n{output}"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"{script.name} {' '.join(args)} timed out after {exc.timeout}s") from exc


# --------------------------------------------------------------------------- probes


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def _kafka_call(sock: socket.socket, api_key: int, version: int, body: bytes, corr: int) -> bytes:
    client_id = b"linli-probe"
    header = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id
    sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    payload = _recv_exact(sock, size)
    if struct.unpack(">i", payload[:4])[0] != corr:
        raise ValueError("correlation id mismatch")
    return payload[4:]


def kafka_ready(host: str, port: int, timeout: float = 2.0) -> bool:
    """True if the broker answers a Metadata request listing at least one broker."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            resp = _kafka_call(sock, 18, 0, b"", 1)  # ApiVersions v0
            error, count = struct.unpack(">hi", resp[:6])
            versions: dict[int, tuple[int, int]] = {}
            for i in range(count):
                key, low, high = struct.unpack(">hhh", resp[6 + 6 * i : 12 + 6 * i])
                versions[key] = (low, high)
            if error or 3 not in versions:
                return False
            low, high = versions[3]
            version = min(high, 8)  # v9+ is the flexible encoding
            if version < max(low, 1):
                return True
            body = struct.pack(">i", -1)  # null topic array: all topics
            if version >= 4:
                body += b"\x00"
            if version >= 8:
                body += b"\x00\x00"
            resp = _kafka_call(sock, 3, version, body, 2)
            offset = 4 if version >= 3 else 0
            (brokers,) = struct.unpack(">i", resp[offset : offset + 4])
            return bool(brokers >= 1)
    except (OSError, EOFError, ValueError, struct.error):
        return False


def postgres_ready(host: str, port: int, timeout: float = 2.0) -> bool:
    """True if the server starts authentication for user ``postgres`` (i.e. accepts logins)."""
    params = b"user\x00postgres\x00database\x00postgres\x00\x00"
    startup = struct.pack(">ii", 8 + len(params), 196608) + params  # protocol 3.0
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(startup)
            return _recv_exact(sock, 1) == b"R"  # 'E' while starting up / shutting down
    except (OSError, EOFError):
        return False


def _wait_until(
    check: Callable[[], bool], what: str, timeout: float = _CONTAINER_READY_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise InfraError(f"{what} not ready after {timeout:.0f}s")
        time.sleep(0.2)


# --------------------------------------------------------------------------- local


def _stop_at_exit(stop: Callable[[], None]) -> None:
    """Best effort: stop a local service when the interpreter exits without close()."""
    with contextlib.suppress(Exception):
        stop()


class LocalKafka:
    """A single-node KRaft broker run by ``deploy/local/kafka.sh`` in ``state_dir``.

    With ``scram_users`` (name -> password) it also has a SASL_SSL listener (SCRAM-SHA-512 over
    TLS, ACLs enforced) at ``sasl_bootstrap``, its CA in ``ca_file``; the PLAINTEXT listener at
    ``bootstrap`` stays open and all-powerful, for setting up topics and ACLs.
    """

    supports_faults: bool = True

    def __init__(
        self,
        state_dir: Path,
        port: int | None = None,
        controller_port: int | None = None,
        scram_users: Mapping[str, str] | None = None,
    ) -> None:
        self.state_dir = state_dir
        taken: set[int] = set()

        def distinct(port: int | None) -> int:
            while port is None or port in taken:
                port = free_port()
            taken.add(port)
            return port

        self.port = distinct(port)
        self.controller_port = distinct(controller_port)
        self.scram_users = dict(scram_users or {})
        self.sasl_port = distinct(None) if self.scram_users else None
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.sasl_bootstrap = f"127.0.0.1:{self.sasl_port}" if self.sasl_port else None
        self.ca_file = state_dir / "tls" / "ca.crt"
        self._exit_hook = False

    def __repr__(self) -> str:
        return f"LocalKafka({self.bootstrap!r}, state_dir={str(self.state_dir)!r})"

    def start(self) -> None:
        """Start (or keep running) the broker; returns once it answers Metadata requests."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not self._exit_hook:
            atexit.register(_stop_at_exit, self.stop)
            self._exit_hook = True
        ports = [str(self.port), str(self.controller_port)]
        if self.sasl_port is not None:
            ports.append(str(self.sasl_port))
        users = " ".join(f"{name}:{password}" for name, password in self.scram_users.items())
        _run(
            _KAFKA_SH,
            "start",
            str(self.state_dir),
            *ports,
            env={"LINLI_KAFKA_SCRAM_USERS": users},
        )

    def add_acls(self, *arguments: str) -> None:
        """``kafka-acls --add`` (AclCommand) with these arguments, e.g. ``--allow-principal``."""
        _run(_KAFKA_SH, "acls", str(self.state_dir), "--add", "--force", *arguments)

    def stop(self) -> None:
        """Graceful stop (SIGTERM, SIGKILL after 30 s). Idempotent; data is kept."""
        _run(_KAFKA_SH, "stop", str(self.state_dir))

    def kill(self) -> None:
        """SIGKILL the broker (crash). Idempotent; committed data survives a later start()."""
        _run(_KAFKA_SH, "kill", str(self.state_dir))

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Kill: a test run's broker is thrown away with its data, so there is nothing for a
        graceful stop (which flushes every partition of every test's topics) to save."""
        self.kill()

    @property
    def log_file(self) -> Path:
        return self.state_dir / "kafka.log"


class LocalPostgres:
    """A throwaway PostgreSQL cluster run by ``deploy/local/postgres.sh`` in ``state_dir``."""

    supports_faults: bool = True

    def __init__(self, state_dir: Path, port: int | None = None) -> None:
        self.state_dir = state_dir
        self.port = port if port is not None else free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._exit_hook = False
        self._cluster = _test_cluster()

    def __repr__(self) -> str:
        return f"LocalPostgres({self.url!r}, state_dir={str(self.state_dir)!r})"

    def start(self) -> None:
        """initdb on first use, start, and return once ``pg_isready`` succeeds."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not self._exit_hook:
            atexit.register(_stop_at_exit, self.stop)
            self._exit_hook = True
        _run(_POSTGRES_SH, "start", str(self.state_dir), str(self.port), env=self._cluster)

    def stop(self) -> None:
        """``pg_ctl stop -m fast``. Idempotent; data is kept."""
        _run(_POSTGRES_SH, "stop", str(self.state_dir), env=self._cluster)

    def kill(self) -> None:
        """``pg_ctl stop -m immediate`` (crash-like; crash recovery on the next start)."""
        _run(_POSTGRES_SH, "kill", str(self.state_dir), env=self._cluster)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop at once and delete the data (also a /tmp/linli-pg shadow, see postgres.sh): a
        test run's cluster is thrown away, so a shutdown checkpoint would save nothing."""
        _run(_POSTGRES_SH, "purge", str(self.state_dir), env=self._cluster)


# --------------------------------------------------------------------------- containers


def _import_first(*names: str) -> Any:
    error: ImportError | None = None
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            error = exc
    raise InfraError(f"cannot import any of {names}") from error


class ContainerKafka:
    """KRaft Kafka in Docker via testcontainers, published on a fixed 127.0.0.1 port.

    The host port is fixed (not random) so that ``restart()`` -- docker stop/start of the
    same container -- keeps the advertised address and the data.
    """

    supports_faults: bool = True

    def __init__(self, image: str = KAFKA_IMAGE, port: int | None = None) -> None:
        self.image = image
        self.port = port if port is not None else free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._container: Any = None
        self._running = False

    def start(self) -> None:
        if self._container is None:
            module = _import_first("testcontainers.community.kafka", "testcontainers.kafka")
            container = module.KafkaContainer(self.image).with_kraft()
            container.with_bind_ports(9093, ("127.0.0.1", self.port))
            # Advertise exactly the address we publish (not "localhost", which may be ::1).
            container.get_container_host_ip = lambda: "127.0.0.1"
            container.start(timeout=int(_CONTAINER_READY_TIMEOUT_S))
            self._container = container
        elif not self._running:
            self._container.get_wrapped_container().start()
        self._running = True
        _wait_until(
            lambda: kafka_ready("127.0.0.1", self.port), f"Kafka container {self.bootstrap}"
        )

    def stop(self) -> None:
        if self._container is not None and self._running:
            self._container.get_wrapped_container().stop(timeout=30)
        self._running = False

    def kill(self) -> None:
        if self._container is not None and self._running:
            self._container.get_wrapped_container().kill()
        self._running = False

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.stop()  # testcontainers: remove container and volumes
        self._container = None
        self._running = False


class ContainerPostgres:
    """PostgreSQL in Docker via testcontainers, trust auth, fixed 127.0.0.1 port."""

    supports_faults: bool = True

    def __init__(self, image: str = POSTGRES_IMAGE, port: int | None = None) -> None:
        self.image = image
        self.port = port if port is not None else free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._container: Any = None
        self._running = False

    def start(self) -> None:
        if self._container is None:
            module = _import_first("testcontainers.community.postgres", "testcontainers.postgres")
            container = module.PostgresContainer(
                self.image, username="postgres", password="postgres", dbname="postgres"
            )
            container.with_env("POSTGRES_HOST_AUTH_METHOD", "trust")
            container.with_command("postgres -c max_connections=200 -c autovacuum=off")
            container.with_bind_ports(5432, ("127.0.0.1", self.port))
            container.start()
            self._container = container
        elif not self._running:
            self._container.get_wrapped_container().start()
        self._running = True
        _wait_until(
            lambda: postgres_ready("127.0.0.1", self.port), f"PostgreSQL container {self.url}"
        )

    def stop(self) -> None:
        if self._container is not None and self._running:
            self._container.get_wrapped_container().stop(timeout=30)
        self._running = False

    def kill(self) -> None:
        if self._container is not None and self._running:
            self._container.get_wrapped_container().kill()
        self._running = False

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.stop()
        self._container = None
        self._running = False


# --------------------------------------------------------------------------- external


class ExternalKafka:
    """A broker someone else runs (``LINLI_TEST_KAFKA_BOOTSTRAP``); cannot be faulted."""

    supports_faults: bool = False

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    def start(self) -> None:
        raise NotImplementedError("external Kafka (LINLI_TEST_KAFKA_BOOTSTRAP) cannot be started")

    def stop(self) -> None:
        raise NotImplementedError("external Kafka (LINLI_TEST_KAFKA_BOOTSTRAP) cannot be stopped")

    def kill(self) -> None:
        raise NotImplementedError("external Kafka (LINLI_TEST_KAFKA_BOOTSTRAP) cannot be killed")

    def restart(self) -> None:
        raise NotImplementedError("external Kafka (LINLI_TEST_KAFKA_BOOTSTRAP) cannot restart")

    def close(self) -> None:
        """Nothing to tear down."""


class ExternalPostgres:
    """A database someone else runs (``LINLI_TEST_DATABASE_URL``); cannot be faulted."""

    supports_faults: bool = False

    def __init__(self, url: str) -> None:
        self.url = url

    def start(self) -> None:
        raise NotImplementedError("external PostgreSQL (LINLI_TEST_DATABASE_URL) cannot start")

    def stop(self) -> None:
        raise NotImplementedError("external PostgreSQL (LINLI_TEST_DATABASE_URL) cannot stop")

    def kill(self) -> None:
        raise NotImplementedError("external PostgreSQL (LINLI_TEST_DATABASE_URL) cannot be killed")

    def restart(self) -> None:
        raise NotImplementedError("external PostgreSQL (LINLI_TEST_DATABASE_URL) cannot restart")

    def close(self) -> None:
        """Nothing to tear down."""


KafkaService = LocalKafka | ContainerKafka | ExternalKafka
PostgresService = LocalPostgres | ContainerPostgres | ExternalPostgres


# --------------------------------------------------------------------------- factories


def start_kafka(state_dir: Path) -> KafkaService:
    """External if LINLI_TEST_KAFKA_BOOTSTRAP is set, else a container if Docker answers
    (and LINLI_TEST_INFRA is not ``local``), else a local broker in ``state_dir/kafka``.
    Returned started; tear down with ``close()``."""
    bootstrap = os.environ.get("LINLI_TEST_KAFKA_BOOTSTRAP", "").strip()
    if bootstrap:
        return ExternalKafka(bootstrap)
    service: LocalKafka | ContainerKafka
    service = ContainerKafka() if _use_containers() else LocalKafka(state_dir / "kafka")
    try:
        service.start()
    except BaseException:
        with contextlib.suppress(Exception):
            service.close()
        raise
    return service


def start_postgres(state_dir: Path) -> PostgresService:
    """External if LINLI_TEST_DATABASE_URL is set, else a container if Docker answers
    (and LINLI_TEST_INFRA is not ``local``), else a local cluster in ``state_dir/postgres``.
    Returned started; tear down with ``close()``."""
    url = os.environ.get("LINLI_TEST_DATABASE_URL", "").strip()
    if url:
        return ExternalPostgres(url)
    service: LocalPostgres | ContainerPostgres
    service = ContainerPostgres() if _use_containers() else LocalPostgres(state_dir / "postgres")
    try:
        service.start()
    except BaseException:
        with contextlib.suppress(Exception):
            service.close()
        raise
    return service
