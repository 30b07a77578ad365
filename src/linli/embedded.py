"""`linli run`: the whole platform in one process, on one port, with no servers to install.

The four services' HTTP apps are mounted at `/registry`, `/inspections`, `/credit` and `/notify`;
their workers (outbox relays, consumers, notify's dispatcher) run in the same event loop over the
embedded event log; each service keeps its own SQLite file in the data folder, migrated at start
by the same Alembic migrations as on PostgreSQL. Nothing but the transport and the database URLs
differs from a Kafka deployment: they are set through the same environment variables an operator
would set (`LINLI_TRANSPORT`, `LINLI_EMBEDDED_LOG_PATH`, `LINLI_<SERVICE>_DATABASE_URL`).

Notify still delivers e-mail over SMTP. Unless an SMTP server is configured
(`LINLI_NOTIFY_SMTP_HOST`), an in-process mail catcher takes the mail, logs each one and keeps it
as an `.eml` file in `<data>/mail/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from linli.console import console_app
from linli.services import SERVICES
from linli_shared.health import ReadinessCheck, readiness
from linli_shared.messaging.embedded import EmbeddedTransport
from linli_shared.messaging.worker import Worker
from linli_shared.migrations import upgrade

log = logging.getLogger("linli.embedded")

DEFAULT_DATA_DIR = Path(".linli/data")
EVENT_LOG_FILE = "events.db"
MAIL_DIR = "mail"
LOCK_FILE = "linli.lock"


@dataclass(frozen=True)
class EmbeddedConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = DEFAULT_DATA_DIR
    # None: catch mail unless LINLI_NOTIFY_SMTP_HOST names an SMTP server.
    mail_catcher: bool | None = None
    mail_catcher_port: int = 0


def service_database_url(data_dir: Path, service: str) -> str:
    return f"sqlite:///{data_dir / f'{service}.db'}"


def embedded_environment(data_dir: Path, smtp_port: int | None) -> dict[str, str]:
    """The settings that make the services embedded: transport, event log, SQLite databases."""
    environment = {
        "LINLI_TRANSPORT": "embedded",
        "LINLI_EMBEDDED_LOG_PATH": str(data_dir / EVENT_LOG_FILE),
    }
    for name in SERVICES:
        environment[f"LINLI_{name.upper()}_DATABASE_URL"] = service_database_url(data_dir, name)
    if smtp_port is not None:
        environment["LINLI_NOTIFY_SMTP_HOST"] = "127.0.0.1"
        environment["LINLI_NOTIFY_SMTP_PORT"] = str(smtp_port)
    return environment


def operator_data_dir(option: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The data folder an operator command works on, or None for a deployment (Kafka and
    PostgreSQL as configured).

    `--data-dir` (or `LINLI_DATA_DIR`) names it; without one, `.linli/data` is used where it
    holds an event log and nothing points the command at a deployment (`LINLI_TRANSPORT`,
    `LINLI_KAFKA_BOOTSTRAP_SERVERS`, a `LINLI_<SERVICE>_DATABASE_URL`).
    """
    if option is None:
        deployment = ["LINLI_TRANSPORT", "LINLI_KAFKA_BOOTSTRAP_SERVERS"] + [
            f"LINLI_{name.upper()}_DATABASE_URL" for name in SERVICES
        ]
        if any(environ.get(name) for name in deployment):
            return None
        if not (DEFAULT_DATA_DIR / EVENT_LOG_FILE).is_file():
            return None
        option = DEFAULT_DATA_DIR
    if not (option / EVENT_LOG_FILE).is_file():
        raise SystemExit(
            f"{option} holds no data of `linli run` (no {EVENT_LOG_FILE}); "
            f"start `linli run --data-dir {option}` once, or name the right folder"
        )
    return option.resolve()


def in_use(data_dir: Path) -> bool:
    """Whether a `linli run` is running on the data folder now."""
    with (data_dir / LOCK_FILE).open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


def wants_mail_catcher(config: EmbeddedConfig, environ: Mapping[str, str]) -> bool:
    if config.mail_catcher is not None:
        return config.mail_catcher
    return not environ.get("LINLI_NOTIFY_SMTP_HOST")


# --- the data folder: personal data, readable by its owner only ---------------------------------

PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600


def private_directory(path: Path) -> None:
    path.mkdir(mode=PRIVATE_DIRECTORY, parents=True, exist_ok=True)
    path.chmod(PRIVATE_DIRECTORY)


def write_private(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)


def make_private(data_dir: Path) -> None:
    """The folder 0700 and everything in it 0600 (or 0700), tightening what an earlier version
    left readable. The SQLite files are created 0600 before SQLite opens them: SQLite gives its
    `-wal` and `-shm` files the mode of their database."""
    private_directory(data_dir)
    for name in [*(f"{service}.db" for service in SERVICES), EVENT_LOG_FILE]:
        os.close(os.open(data_dir / name, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE))
    for path in data_dir.rglob("*"):
        if not path.is_symlink():
            path.chmod(PRIVATE_DIRECTORY if path.is_dir() else PRIVATE_FILE)


# --- the mail catcher ----------------------------------------------------------------------------


class _MailKeeper:
    """aiosmtpd handler: log each mail and keep it as an .eml file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.received = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode()
        self.received += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.directory / f"{stamp}-{self.received:05d}.eml"
        await asyncio.to_thread(write_private, path, raw)
        # Who it went to and what it says stay in the file: logs hold no contact data.
        log.info("mail caught for %d recipient(s): %s", len(envelope.rcpt_tos), path.name)
        return "250 Message accepted for delivery"


class MailCatcher:
    """An SMTP server in this process's event loop that accepts every mail for local reading."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self._directory = directory
        self._host = host
        self._port = port
        self._keeper = _MailKeeper(directory)
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen; returns the port."""
        await asyncio.to_thread(private_directory, self._directory)
        # aiosmtpd logs every command at INFO, recipients' addresses included.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self._keeper, hostname="linli.localhost", loop=loop),
            self._host,
            self._port,
        )
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


# --- the HTTP side -------------------------------------------------------------------------------


def create_embedded_app(
    apps: Mapping[str, FastAPI], extra_checks: Mapping[str, ReadinessCheck] | None = None
) -> FastAPI:
    """One app with each service's app mounted under its name; their lifespans run inside."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for service_app in apps.values():
                await stack.enter_async_context(service_app.router.lifespan_context(service_app))
            yield

    root = FastAPI(
        title="Linli (embedded)",
        description="All four services in one process; each has its own API under its name.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @root.get("/", summary="Where each service's API and documentation are")
    async def index() -> dict[str, object]:
        return {
            "name": "linli",
            "mode": "embedded",
            "console": "/console/",
            "services": {
                name: {
                    "api": f"/{name}/v1",
                    "docs": f"/{name}/docs",
                    "openapi": f"/{name}/openapi.json",
                }
                for name in apps
            },
        }

    @root.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    checks: dict[str, ReadinessCheck] = {
        f"{name}.{check}": function
        for name, service_app in apps.items()
        for check, function in service_app.state.readiness_checks.items()
    }
    checks.update(extra_checks or {})

    @root.get("/readyz", summary="Readiness: every service, the event log and the workers")
    async def readyz() -> JSONResponse:
        return await readiness(checks)

    for name, service_app in apps.items():
        root.mount(f"/{name}", service_app)
    root.mount("/console", console_app())
    return root


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `run_embedded` stops HTTP and workers together."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()


async def _serve(server: uvicorn.Server, sockets: list[socket.socket]) -> None:
    try:
        await server.serve(sockets)
    except SystemExit as exit_:  # uvicorn exits when its startup fails; keep the loop ours
        raise RuntimeError(f"the HTTP server could not start (exit {exit_.code})") from None


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise SystemExit(f"{host}:{port} is in use; choose another --port") from None
        raise
    sock.set_inheritable(True)
    return sock


# --- running ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _exclusive(data_dir: Path) -> Iterator[None]:
    """One `linli run` per data folder: two would both consume every consumer group."""
    descriptor = os.open(data_dir / LOCK_FILE, os.O_CREAT | os.O_WRONLY | os.O_APPEND, PRIVATE_FILE)
    handle: IO[str] = os.fdopen(descriptor, "a")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(f"another `linli run` is using {data_dir}") from None
        yield
    finally:
        handle.close()


@contextlib.contextmanager
def _environment(overrides: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


async def _migrate_all() -> None:
    for name, definition in SERVICES.items():
        url = definition.settings().database_url
        await asyncio.to_thread(upgrade, definition.migrations_dir, url)
        log.info("%s: database migrated (%s)", name, url)


async def run_embedded(
    config: EmbeddedConfig, on_ready: Callable[[str], None] | None = None
) -> None:
    """Run until SIGTERM or SIGINT; then HTTP requests and event handlers in flight finish,
    offsets are committed and the databases closed."""
    data_dir = config.data_dir.resolve()
    await asyncio.to_thread(make_private, data_dir)
    with _exclusive(data_dir):
        async with contextlib.AsyncExitStack() as stack:
            smtp_port: int | None = None
            if wants_mail_catcher(config, os.environ):
                catcher = MailCatcher(data_dir / MAIL_DIR, port=config.mail_catcher_port)
                smtp_port = await catcher.start()
                stack.push_async_callback(catcher.stop)
                log.info(
                    "mail catcher on 127.0.0.1:%d keeps mail in %s", smtp_port, data_dir / MAIL_DIR
                )
            stack.enter_context(_environment(embedded_environment(data_dir, smtp_port)))
            await _migrate_all()
            await _run_platform(config, data_dir, on_ready)


def _apps() -> dict[str, FastAPI]:
    """Every service's HTTP app; inspections' seals inspectors' notes with subject keys from the
    registry in-process (created first)."""
    from linli.subject_keys import InProcessSubjectKeys
    from linli_inspections.app import create_app as create_inspections_app

    apps: dict[str, FastAPI] = {}
    for name, definition in SERVICES.items():
        if name == "inspections":
            keys = InProcessSubjectKeys(apps["registry"].state.use_cases.subject_keys)
            apps[name] = create_inspections_app(subject_keys=keys)
        else:
            apps[name] = definition.create_app()
    return apps


def _workers(apps: Mapping[str, FastAPI]) -> list[Worker]:
    """Every service's worker; notify's takes its subject keys from the registry in-process."""
    from linli.subject_keys import InProcessSubjectKeys
    from linli_notify.app import create_worker as create_notify_worker

    keys = InProcessSubjectKeys(apps["registry"].state.use_cases.subject_keys)
    return [
        create_notify_worker(subject_keys=keys) if name == "notify" else definition.create_worker()
        for name, definition in SERVICES.items()
    ]


async def _run_platform(
    config: EmbeddedConfig, data_dir: Path, on_ready: Callable[[str], None] | None
) -> None:
    apps = _apps()
    workers = _workers(apps)
    event_log = EmbeddedTransport(data_dir / EVENT_LOG_FILE, "linli-readiness")
    tasks: list[asyncio.Task[None]] = []

    async def workers_running() -> None:
        stopped = [worker.name for worker, task in zip(workers, tasks, strict=False) if task.done()]
        if stopped:
            raise RuntimeError(f"workers stopped: {', '.join(stopped)}")

    root = create_embedded_app(apps, {"event_log": event_log.ping, "workers": workers_running})
    sock = _listen(config.host, config.port)
    server = _Server(
        uvicorn.Config(root, log_config=None, lifespan="on", timeout_graceful_shutdown=30)
    )

    def stop() -> None:
        if not server.should_exit:
            log.info("stopping: finishing requests and events in flight")
        server.should_exit = True
        for worker in workers:
            worker.stop_event.set()

    def on_signal() -> None:
        if not server.should_exit:
            stop()
            return
        log.warning("stopping now; events in flight are delivered again at the next start")
        server.force_exit = True
        for task in tasks:
            task.cancel()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        tasks.extend(asyncio.create_task(worker.run(), name=worker.name) for worker in workers)
        serving = asyncio.create_task(_serve(server, [sock]), name="http")
        listening = asyncio.create_task(server.listening.wait())
        await asyncio.wait([listening, serving], return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if server.started:
            base = f"http://{config.host}:{sock.getsockname()[1]}"
            log.info("linli is running on %s (data in %s)", base, data_dir)
            if on_ready is not None:
                on_ready(base)
        await asyncio.wait([serving, *tasks], return_when=asyncio.FIRST_COMPLETED)
        stop()  # whichever part ended first, the others follow
        outcomes = await asyncio.gather(serving, *tasks, return_exceptions=True)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        sock.close()
    failures = [
        outcome
        for outcome in outcomes
        if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError)
    ]
    if failures:
        raise failures[0]
    log.info("linli stopped")
