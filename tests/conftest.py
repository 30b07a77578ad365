"""Fixtures for cross-service tests: SMTP sink, the platform as processes, dev tokens."""

from __future__ import annotations

import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import MetaData, create_engine

from conftest import REPO, MigratedDatabase, migrated_databases
from linli.services import SERVICES as DEFINITIONS
from linli_shared.audit import audit_table
from linli_shared.auth import mint_dev_token
from linli_shared.settings import PlatformSettings
from tests.support.infra import KafkaService, PostgresService, free_port
from tests.support.platform import SERVICES, Platform
from tests.support.smtp import SmtpSink


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink(free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def platform_env(kafka: KafkaService, kafka_namespace: str, smtp_sink: SmtpSink) -> dict[str, str]:
    return platform_environment(kafka, kafka_namespace, smtp_sink)


def platform_environment(kafka: KafkaService, namespace: str, sink: SmtpSink) -> dict[str, str]:
    return {
        "LINLI_ENVIRONMENT": "test",
        "LINLI_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "LINLI_KAFKA_NAMESPACE": namespace,
        "LINLI_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "LINLI_CONSUMER_INITIAL_BACKOFF_SECONDS": "0.05",
        "LINLI_CONSUMER_MAX_BACKOFF_SECONDS": "1",
        # The APIs measure lag and backlog this often (production: 15 s), so tests see it soon;
        # not more often: each measurement opens two Kafka clients, in every API of a platform.
        "LINLI_BACKLOG_PROBE_INTERVAL_SECONDS": "5",
        "LINLI_NOTIFY_SMTP_HOST": "127.0.0.1",
        "LINLI_NOTIFY_SMTP_PORT": str(sink.port),
    }


@pytest.fixture
async def platform(
    platform_env: dict[str, str], migrated_database: MigratedDatabase
) -> AsyncIterator[Platform]:
    async with running_platform(platform_env, migrated_database) as running:
        yield running


@dataclass(frozen=True)
class SharedPlatform:
    """The platform the tests of one test process share, with what they read besides the APIs."""

    platform: Platform
    namespace: str
    smtp_sink: SmtpSink


# The union of what the sharing modules need: test_partner_privacy's overdue cases escalate while
# it waits (every other sharing module leaves its cases within their deadlines).
SHARED_PLATFORM_ENV = {"LINLI_INSPECTIONS_SWEEP_INTERVAL_SECONDS": "1"}


class SharedPlatforms:
    """Starts the shared platform when a test first asks for it and stops it after the last test
    of this process that uses it (an idle platform still costs a fifth of a core)."""

    def __init__(self, kafka: KafkaService, databases: MigratedDatabase) -> None:
        self._kafka = kafka
        self._databases = databases
        self._running: tuple[SharedPlatform, tempfile.TemporaryDirectory[str]] | None = None

    async def get(self) -> SharedPlatform:
        if self._running is None:
            sink = SmtpSink(free_port())
            sink.start()
            namespace = f"t{uuid.uuid4().hex[:8]}."
            env = {**platform_environment(self._kafka, namespace, sink), **SHARED_PLATFORM_ENV}
            for service in SERVICES:
                database_url = await self._databases(DEFINITIONS[service])
                env[f"LINLI_{service.upper()}_DATABASE_URL"] = database_url
            work_dir = _work_dir()
            running = Platform(Path(work_dir.name), env)
            self._running = (SharedPlatform(running, namespace, sink), work_dir)
            try:
                running.start()
            except BaseException:
                self.stop()  # the next test that asks starts it anew
                raise
        return self._running[0]

    def stop(self) -> None:
        if self._running is not None:
            (shared, work_dir), self._running = self._running, None
            try:
                shared.platform.stop()
                print(shared.platform.logs())
            finally:
                shared.smtp_sink.stop()
                work_dir.cleanup()


SHARED_PLATFORMS = pytest.StashKey[SharedPlatforms]()


@pytest.fixture(scope="session")
def shared_platforms(
    request: pytest.FixtureRequest,
    kafka: KafkaService,
    postgres: PostgresService,
    migrated_templates: dict[str, str],
) -> Iterator[SharedPlatforms]:
    platforms = SharedPlatforms(kafka, migrated_databases(postgres, migrated_templates))
    request.session.stash[SHARED_PLATFORMS] = platforms
    yield platforms
    platforms.stop()


@pytest.fixture
async def shared_platform(shared_platforms: SharedPlatforms) -> SharedPlatform:
    """The platform shared by the modules whose tests do not disturb it: they stop no process,
    change no setting, create communities and grids of ids of their own, and read only what they
    made (their own subjects, correlation ids and addresses; the newest audit entries). A test that
    stops processes, needs settings of its own or counts everything on a topic takes `platform`,
    which starts one for that test alone."""
    return await shared_platforms.get()


# The modules whose tests take `shared_platform`: pytest-xdist hands them to one test process as
# one unit of work (below), so the platform starts once in the whole run.
SHARED_PLATFORM_MODULES = (
    "tests/e2e/test_access_story.py",
    "tests/e2e/test_compound_story.py",
    "tests/e2e/test_correction_story.py",
    "tests/e2e/test_erasure_story.py",
    "tests/e2e/test_partner_privacy.py",
    "tests/e2e/test_principals_story.py",
    "tests/e2e/test_story.py",
    "tests/security/test_attacks_audit.py",
    "tests/security/test_attacks_reach.py",  # one of its tests starts a platform of its own: last
)


# The fault tests are the longest path of a run (five platforms, 500 inspections each, about
# five minutes): handed out first, to a test process of their own, while the others share out
# the rest. Started last, as xdist's own order (most tests first) would, they end the run alone.
FIRST = "tests/fault/test_faults.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fault tests first; then the modules that share the platform, whole and in
    SHARED_PLATFORM_MODULES's order, so that it starts once and stops after the last of them;
    then the other modules, most tests first."""
    modules = {item.nodeid.split("::")[0] for item in items if _shares(item)}
    if unlisted := modules - set(SHARED_PLATFORM_MODULES):
        raise pytest.UsageError(f"add {sorted(unlisted)} to SHARED_PLATFORM_MODULES")
    sizes = Counter(item.nodeid.split("::")[0] for item in items)

    def rank(item: pytest.Item) -> tuple[int, int, str]:
        module = item.nodeid.split("::")[0]
        if module == FIRST:
            return (0, 0, module)
        if module in SHARED_PLATFORM_MODULES:
            return (1, SHARED_PLATFORM_MODULES.index(module), module)
        return (2, -sizes[module], module)

    items.sort(key=rank)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile`, with the modules that share the platform as one unit of work."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedPlatformFirst(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0]
            return "shared platform" if module in SHARED_PLATFORM_MODULES else module

    return SharedPlatformFirst(config, log)


def _shares(item: pytest.Item | None) -> bool:
    return item is not None and "shared_platform" in getattr(item, "fixturenames", ())


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the shared platform after the last test of this process that uses it."""
    if not _shares(item) or _shares(nextitem):
        return
    platforms = item.session.stash.get(SHARED_PLATFORMS, None)
    if platforms is not None:
        platforms.stop()


@asynccontextmanager
async def running_platform(
    platform_env: dict[str, str], migrated_database: MigratedDatabase
) -> AsyncIterator[Platform]:
    env = dict(platform_env)
    for service in SERVICES:
        database_url = await migrated_database(DEFINITIONS[service])
        env[f"LINLI_{service.upper()}_DATABASE_URL"] = database_url
    with _work_dir() as work_dir:
        running = Platform(Path(work_dir), env)
        try:
            running.start()
            yield running
        finally:
            running.stop()
            # Shown by pytest only when the test failed: what each process said last.
            print(running.logs())


def _work_dir() -> tempfile.TemporaryDirectory[str]:
    """A folder of its own under .local/test-runs for a platform's logs."""
    base = REPO / ".local" / "test-runs"
    base.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(dir=base)


def bearer(*roles: str, subject: str = "tester", grids: Sequence[str] = ()) -> dict[str, str]:
    token = mint_dev_token(PlatformSettings(), subject, list(roles), grids)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15) as client:
        yield client


@pytest.fixture
async def credit_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    """Credit's app in this process on a throwaway SQLite holding only its audit trail: enough
    for what happens before a route reaches the database (authentication, role checks, the
    request's metrics, the OpenAPI document) and for the routes that need none."""
    url = f"sqlite:///{tmp_path / 'credit.db'}"
    engine = create_engine(url)
    audit_table(MetaData()).create(engine)
    engine.dispose()
    monkeypatch.setenv("LINLI_CREDIT_DATABASE_URL", url)
    app = DEFINITIONS["credit"].create_app()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
