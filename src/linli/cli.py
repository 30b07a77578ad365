"""`linli`: one command for running, migrating and operating the platform."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import tempfile
import uuid
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from alembic import command
from fastapi import FastAPI
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from linli.services import SERVICES, by_name
from linli_shared.auth import ROLES, DevKeyRefused, mint_dev_token
from linli_shared.faults import is_infrastructure_error
from linli_shared.logs import configure_logging
from linli_shared.messaging.operations import (
    EmbeddedOperations,
    KafkaOperations,
    Operations,
)
from linli_shared.messaging.transports import lag_source
from linli_shared.migrations import alembic_config, upgrade, wait_until_current
from linli_shared.permissions import matrix_markdown
from linli_shared.settings import PlatformSettings
from linli_shared.telemetry import configure_tracing

app = typer.Typer(help="Linli: event-driven community governance.", no_args_is_help=True)

ServiceName = Annotated[str, typer.Argument(help="registry | inspections | credit | notify")]
DataDir = Annotated[
    Path | None,
    typer.Option(
        envvar="LINLI_DATA_DIR",
        help="Work on the data folder of `linli run` (the embedded mode); without it, "
        ".linli/data is used when no Kafka or PostgreSQL is configured",
        show_default=False,
    ),
]


T = TypeVar("T")


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run a long-lived process's event loop on uvloop where it is installed (uvicorn[standard]
    brings it on Linux and macOS), as uvicorn does for the APIs. A worker's time goes mostly to
    socket writes and callbacks, which uvloop makes cheaper (docs/performance.md)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows, where uvicorn[standard] has no uvloop
        return asyncio.run(main)
    return uvloop.run(main)


def _use_data_dir(data_dir: Path | None) -> Path | None:
    """Point this command at the embedded data folder, if it works on one (see
    `linli.embedded.operator_data_dir`); returns that folder."""
    from linli.embedded import embedded_environment, operator_data_dir

    chosen = operator_data_dir(data_dir, os.environ)
    if chosen is not None:
        os.environ.update(embedded_environment(chosen, smtp_port=None))
    return chosen


@app.command()
def serve(
    service: ServiceName,
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Run one service's HTTP API."""
    definition = by_name(service)
    configure_logging(PlatformSettings().log_level)
    configure_tracing(f"linli-{service}")
    # Behind a proxy that strips /<service> (the gateway), LINLI_ROOT_PATH=/<service>: the docs
    # then load /<service>/openapi.json, whose server is /<service>.
    root_path = PlatformSettings().root_path
    uvicorn.run(definition.create_app(), host=host, port=port, root_path=root_path, log_config=None)


@app.command("console")
def console_command(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Serve the staff console alone (static files and its config; LINLI_CONSOLE_* settings)."""
    from linli.console import console_app

    configure_logging(PlatformSettings().log_level)
    uvicorn.run(console_app(), host=host, port=port, log_config=None)


@app.command()
def worker(service: ServiceName) -> None:
    """Run one service's worker: its outbox relay and its event consumers."""
    definition = by_name(service)
    configure_logging(PlatformSettings().log_level)
    configure_tracing(f"linli-{service}-worker")

    async def main() -> None:
        service_worker = definition.create_worker()
        service_worker.install_signal_handlers()
        metrics_port = PlatformSettings().metrics_port
        health = None
        if metrics_port is not None:
            health = asyncio.create_task(
                _serve_until(service_worker.health_app(), metrics_port, service_worker.stop_event)
            )
        # Consuming before the schema exists would dead-letter good events: wait for it.
        await wait_until_current(
            definition.migrations_dir, definition.settings().database_url, service_worker.stop_event
        )
        await service_worker.run()
        if health is not None:
            await health

    run_loop(main())


class _QuietServer(uvicorn.Server):
    """uvicorn leaving SIGTERM to the worker, which drains its consumers first."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_until(app: FastAPI, port: int, stop: asyncio.Event) -> None:
    config = uvicorn.Config(app, host="0.0.0.0", port=port, log_config=None, access_log=False)
    server = _QuietServer(config)
    serving = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await serving


@app.command()
def migrate(
    service: Annotated[str, typer.Argument(help="A service, or 'all'")] = "all",
    revision: Annotated[str, typer.Option(help="Target revision")] = "head",
    data_dir: DataDir = None,
) -> None:
    """Bring the services' databases up to date (Alembic)."""
    _use_data_dir(data_dir)
    names = list(SERVICES) if service == "all" else [by_name(service).name]
    for name in names:
        definition = SERVICES[name]
        upgrade(definition.migrations_dir, definition.settings().database_url, revision)
        typer.echo(f"{name}: migrated to {revision}")


@app.command("make-migration")
def make_migration(
    service: ServiceName,
    message: Annotated[str, typer.Option("-m", "--message", help="What the migration does")],
) -> None:
    """(Developers) autogenerate a migration from the service's tables."""
    definition = by_name(service)
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'scratch.db'}"
        upgrade(definition.migrations_dir, url)
        command.revision(
            alembic_config(definition.migrations_dir, url), message=message, autogenerate=True
        )


@app.command()
def token(
    subject: Annotated[str, typer.Option(help="Who the token is for")] = "dev-user",
    role: Annotated[list[str] | None, typer.Option(help=f"Role(s): {', '.join(ROLES)}")] = None,
    grid: Annotated[list[str] | None, typer.Option(help="Grid(s) the subject works in")] = None,
    organisation: Annotated[
        uuid.UUID | None,
        typer.Option(help="The organisation a property manager or shop acts for (its id)"),
    ] = None,
    resident: Annotated[
        uuid.UUID | None,
        typer.Option(help="The resident a resident token is for (the registry's resident id)"),
    ] = None,
    ttl_hours: Annotated[
        float,
        typer.Option(
            min=0.01,
            max=24 * 366 * 100,
            help="How long it is valid; a development service's own (`--role key_reader`) longer",
        ),
    ] = 8.0,
) -> None:
    """Mint a development bearer token signed with the local dev key."""
    try:
        typer.echo(
            mint_dev_token(
                PlatformSettings(),
                subject,
                role or ["admin"],
                grid or [],
                ttl=timedelta(hours=ttl_hours),
                organisation_id=organisation,
                resident_id=resident,
            )
        )
    except DevKeyRefused as refused:
        typer.echo(f"error: {refused}", err=True)
        raise typer.Exit(2) from refused


dlq = typer.Typer(help="Inspect and re-drive dead-lettered events.", no_args_is_help=True)
consumers = typer.Typer(help="Operate consumer groups.", no_args_is_help=True)
outbox = typer.Typer(help="Inspect the services' outboxes.", no_args_is_help=True)
app.add_typer(dlq, name="dlq")
app.add_typer(consumers, name="consumers")
app.add_typer(outbox, name="outbox")


def _progress() -> Progress:
    """A progress display on the terminal (stderr) for long operations."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed} done"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def _operations() -> Operations:
    platform = PlatformSettings()
    if platform.transport == "embedded":
        if not platform.embedded_log_path.is_file():
            raise SystemExit(f"no embedded event log at {platform.embedded_log_path}")
        return EmbeddedOperations(platform.embedded_log_path, platform.embedded_topic_partitions)
    # Its connection warnings would bury the one line `main` says about an unreachable cluster.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    return KafkaOperations(
        platform.kafka_bootstrap_servers,
        platform.kafka_namespace,
        **platform.kafka_client_options(),
    )


@dlq.command("list")
def dlq_list(
    group: Annotated[str | None, typer.Option(help="Only this consumer group's")] = None,
    pending: Annotated[bool, typer.Option(help="Only those not replayed yet")] = False,
    correlation_id: Annotated[
        str | None, typer.Option(help="Only the events of this correlation id")
    ] = None,
    event_type: Annotated[
        str | None, typer.Option("--type", help="Only events of this type")
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Only this reason: malformed | handler-failed")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array on stdout")] = False,
    data_dir: DataDir = None,
) -> None:
    """List dead letters: the event (id, type, subject, correlation id), why, how often and when
    it failed, and where it came from."""
    _use_data_dir(data_dir)

    async def list_letters() -> None:
        operations = _operations()
        topics = await operations.dead_letter_topics(group)
        letters = [
            letter
            for letter in await operations.read_dead_letters(topics, only_unreplayed=pending)
            if letter.matches(correlation_id=correlation_id, event_type=event_type, reason=reason)
        ]
        if as_json:
            typer.echo(json.dumps([letter.summary() for letter in letters], indent=2))
            return
        for letter in letters:
            shown = letter.summary()
            typer.echo(
                "  ".join(
                    f"{name}={shown[name]}"
                    for name in (
                        "id",
                        "type",
                        "subject",
                        "correlation_id",
                        "reason",
                        "attempts",
                        "first_failed_at",
                        "last_failed_at",
                        "consumer_group",
                        "source",
                    )
                )
                + f"  error={shown['error'][:160]}"
            )
        typer.echo(f"{len(letters)} dead letter(s) in {len(topics)} topic(s)")

    asyncio.run(list_letters())


@dlq.command("replay")
def dlq_replay(
    group: Annotated[str | None, typer.Option(help="Only this consumer group's")] = None,
    event_id: Annotated[
        str | None,
        typer.Option("--id", help="Only the dead letters of this event id (again if replayed)"),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Re-publish dead letters to their source topics (each once); consumers apply them again."""
    _use_data_dir(data_dir)

    async def replay() -> None:
        operations = _operations()
        topics = await operations.dead_letter_topics(group)
        with _progress() as progress:
            progress.add_task(f"re-driving dead letters from {len(topics)} topic(s)", total=None)
            replayed = await operations.replay_dead_letters(topics, event_id=event_id)
        typer.echo(f"replayed {len(replayed)} dead letter(s)")
        if event_id is not None and not replayed:
            typer.echo(f"error: no dead letter of event {event_id}", err=True)
            raise typer.Exit(1)

    asyncio.run(replay())


@consumers.command("reset")
def consumers_reset(service: ServiceName, data_dir: DataDir = None) -> None:
    """Rewind a service's consumer groups to the beginning (stop its workers first).

    On restart the workers re-consume everything; the inbox keeps every effect single.
    """
    definition = by_name(service)
    embedded = _use_data_dir(data_dir)
    if embedded is not None:
        from linli.embedded import in_use

        if in_use(embedded):
            raise SystemExit(f"`linli run` is using {embedded}: stop it first, then reset")

    async def reset() -> None:
        operations = _operations()
        for subscription in definition.create_worker().subscriptions:
            offsets = await operations.reset_group(subscription.group, subscription.topics)
            typer.echo(f"{subscription.group}: reset {len(offsets)} partition(s) to the beginning")

    asyncio.run(reset())


@consumers.command("lag")
def consumers_lag(
    service: Annotated[str, typer.Argument(help="A service, or 'all'")] = "all",
    data_dir: DataDir = None,
) -> None:
    """How far each consumer group is behind, per partition (committed offset vs end offset)."""
    _use_data_dir(data_dir)
    names = list(SERVICES) if service == "all" else [by_name(service).name]

    async def lag() -> None:
        platform = PlatformSettings()
        source = lag_source(platform, client_id="linli-cli")
        for name in names:
            subscriptions = SERVICES[name].create_worker().subscriptions
            lags = await source.consumer_lag({s.group: s.topics for s in subscriptions})
            for entry in lags:
                typer.echo(
                    f"{entry.group}  {entry.topic}[{entry.partition}]  committed={entry.position}"
                    f"  end={entry.end}  lag={entry.lag}"
                )
            total = sum(entry.lag for entry in lags)
            typer.echo(f"{name}: {total} record(s) waiting")

    asyncio.run(lag())


@outbox.command("backlog")
def outbox_backlog(
    service: Annotated[str, typer.Argument(help="A service, or 'all'")] = "all",
    data_dir: DataDir = None,
) -> None:
    """How many events wait in each outbox to be published."""
    _use_data_dir(data_dir)
    names = list(SERVICES) if service == "all" else [by_name(service).name]

    async def backlog() -> None:
        for name in names:
            count = await SERVICES[name].create_worker().outbox_backlog()
            typer.echo(f"{name}: {count} unpublished")

    asyncio.run(backlog())


retention = typer.Typer(
    help="The retention policy: what each service keeps how long, and applying it now.",
    no_args_is_help=True,
)
app.add_typer(retention, name="retention")


@retention.command("run")
def retention_run(
    service: Annotated[str, typer.Argument(help="A service, or 'all'")] = "all",
    data_dir: DataDir = None,
) -> None:
    """Apply each service's retention policy in force now, as its worker does every
    LINLI_PRUNE_INTERVAL_SECONDS: one audit entry per service, then what went per category."""
    _use_data_dir(data_dir)
    names = list(SERVICES) if service == "all" else [by_name(service).name]

    async def apply() -> None:
        for name in names:
            job = SERVICES[name].create_retention()
            try:
                done = await job.run_once(trigger="cli")
            finally:
                await job.database.dispose()
            counts = ", ".join(f"{category} {count}" for category, count in done.counts.items())
            typer.echo(f"{name}: policy {done.version} applied: {counts}")

    asyncio.run(apply())


@retention.command("policy")
def retention_policy(
    service: Annotated[str, typer.Argument(help="A service, or 'all'")] = "all",
    data_dir: DataDir = None,
) -> None:
    """Print the retention policy in force: each category's period and its reason."""
    _use_data_dir(data_dir)
    names = list(SERVICES) if service == "all" else [by_name(service).name]
    for name in names:
        job = SERVICES[name].create_retention()
        policy = job.policy()
        typer.echo(f"{name}: policy {policy.version}, in force from {policy.effective_from}")
        for period in policy.periods.values():
            typer.echo(f"  {period.category}: {period.days} days. {period.reason}")


@app.command()
def run(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    data_dir: Annotated[
        Path,
        typer.Option(
            envvar="LINLI_DATA_DIR",
            help="Folder for the SQLite databases, the event log and caught mail",
        ),
    ] = Path(".linli/data"),
    mail_catcher: Annotated[
        bool | None,
        typer.Option(
            "--mail-catcher/--no-mail-catcher",
            help="Catch notify's e-mail in this process (by default unless "
            "LINLI_NOTIFY_SMTP_HOST is set)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the whole platform in one process on one port: no Kafka, no PostgreSQL (embedded)."""
    from linli.embedded import EmbeddedConfig, run_embedded

    configure_logging(PlatformSettings().log_level)
    configure_tracing("linli")

    def announce(base: str) -> None:
        lines = [f"Linli is running on {base}  (data: {data_dir.resolve()})"]
        lines += [f"  {name:<12} {base}/{name}/docs" for name in SERVICES]
        lines += [f"  {'console':<12} {base}/console/  (the staff console, in a browser)"]
        lines += ["Play the story with `linli demo`; stop with Ctrl+C."]
        typer.echo("\n".join(lines))

    config = EmbeddedConfig(host=host, port=port, data_dir=data_dir, mail_catcher=mail_catcher)
    run_loop(run_embedded(config, on_ready=announce))


@app.command()
def demo(
    url: Annotated[
        str, typer.Option(help="Base URL of `linli run` (services under /registry, /credit, …)")
    ] = "http://127.0.0.1:8000",
    registry_url: Annotated[
        str | None, typer.Option(help="The registry's own URL (a deployment with one per service)")
    ] = None,
    inspections_url: Annotated[str | None, typer.Option(help="The inspections' own URL")] = None,
    credit_url: Annotated[str | None, typer.Option(help="The credit's own URL")] = None,
    notify_url: Annotated[str | None, typer.Option(help="The notify's own URL")] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for each reaction of the platform")
    ] = 60.0,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the outcome as JSON to this file")
    ] = None,
) -> None:
    """Load a small community and play the loop: failed inspection → notice, entry, score."""
    from linli.demo import Endpoints, play

    endpoints = Endpoints.embedded(url).with_overrides(
        registry_url, inspections_url, credit_url, notify_url
    )
    if not play(endpoints, timeout=timeout, json_path=json_path):
        raise typer.Exit(1)


@app.command("asyncapi")
def asyncapi_command(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout")
    ] = None,
) -> None:
    """Print the AsyncAPI 3.0 document of Linli's events (docs/asyncapi.yaml is this output)."""
    from linli_shared.asyncapi import asyncapi_document, consumer_group, render
    from linli_shared.contracts import CATALOGUE

    groups = [
        consumer_group(name, subscription.group, subscription.handlers)
        for name, definition in SERVICES.items()
        for subscription in definition.create_worker().subscriptions
    ]
    text = render(asyncapi_document(CATALOGUE, groups))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


credit = typer.Typer(help="Operate the credit ledger.", no_args_is_help=True)
app.add_typer(credit, name="credit")


@credit.command("rebuild")
def credit_rebuild(data_dir: DataDir = None) -> None:
    """Recompute every score and grade from the ledger; lists the accounts that differed."""
    _use_data_dir(data_dir)
    from linli_credit.app import rebuild

    with _progress() as progress:
        task = progress.add_task("rebuilding credit accounts", total=None)
        report = asyncio.run(rebuild(on_account=lambda: progress.advance(task)))
    for subject_id in report.changed:
        typer.echo(f"rebuilt {subject_id}: the projection differed from the ledger")
    typer.echo(f"credit: {report.accounts} account(s) rebuilt, {len(report.changed)} differed")


registry = typer.Typer(help="Operate the registry.", no_args_is_help=True)
app.add_typer(registry, name="registry")


@registry.command("rotate-keys")
def registry_rotate_keys(
    batch_size: Annotated[
        int, typer.Option(min=1, help="Rows per transaction (bounded batches)")
    ] = 500,
    data_dir: DataDir = None,
) -> None:
    """Re-encrypt every encrypted personal-data column under the first (current) key of
    LINLI_REGISTRY_ENCRYPTION_KEYS. Idempotent and resumable: run it again after a stop."""
    _use_data_dir(data_dir)
    from linli_registry.app import rotate_keys

    with _progress() as progress:
        task = progress.add_task("re-encrypting personal data", total=None)
        report = asyncio.run(
            rotate_keys(
                batch_size=batch_size, on_batch=lambda _, rows: progress.advance(task, rows)
            )
        )
    for table, examined in report.examined.items():
        typer.echo(
            f"{table}: {examined} row(s) examined, {report.rotated[table]} value(s) re-encrypted"
        )
    typer.echo(f"registry: {report.total_rotated} value(s) re-encrypted under the current key")


SUBJECT_KINDS = ("household", "resident", "organisation")


def _subject(text: str, where: str) -> tuple[uuid.UUID, Any]:
    """`<kind>:<id>` (what `destroyed-keys` prints first on each line)."""
    kind, _, identifier = text.partition(":")
    try:
        subject = uuid.UUID(identifier)
    except ValueError:
        subject = None
    if kind not in SUBJECT_KINDS or subject is None:
        raise typer.BadParameter(f"{where}: {text!r} is not <{'|'.join(SUBJECT_KINDS)}>:<id>")
    return subject, kind


@registry.command("destroyed-keys")
def registry_destroyed_keys(data_dir: DataDir = None) -> None:
    """List every subject whose key was destroyed (crypto-shredding, docs/privacy.md), one
    `<kind>:<id> <destroyed at>` per line, oldest first: keep it outside the database, and give
    it to `destroy-keys` after restoring the registry's database from a backup."""
    _use_data_dir(data_dir)
    from linli_registry.app import destroyed_keys

    for key in asyncio.run(destroyed_keys()):
        at = key.destroyed_at.isoformat() if key.destroyed_at else ""
        typer.echo(f"{key.kind}:{key.subject_id} {at}")


@registry.command("destroy-keys")
def registry_destroy_keys(
    subjects: Annotated[
        list[str] | None, typer.Argument(help="<household|resident|organisation>:<id> ...")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(help="A list as `destroyed-keys` prints it (`-` for standard input)"),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Destroy subjects' keys for good (idempotent): after restoring the registry's database
    from a backup, every key destroyed since the backup was taken, before the registry starts
    (docs/privacy.md, "Database backups"). Erasing a resident or household is the erasure's job."""
    parsed = [_subject(text, f"argument {n}") for n, text in enumerate(subjects or [], 1)]
    if file is not None:
        lines = (sys.stdin.read() if str(file) == "-" else file.read_text()).splitlines()
        parsed += [
            _subject(line.split()[0], f"{file}:{n}")
            for n, line in enumerate(lines, 1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
    if not parsed:
        raise typer.BadParameter("name at least one subject, or --file")
    _use_data_dir(data_dir)
    from linli_registry.app import destroy_keys

    destroyed = asyncio.run(destroy_keys(parsed))
    for key in destroyed:
        at = key.destroyed_at.isoformat() if key.destroyed_at else ""
        typer.echo(f"{key.kind}:{key.subject_id} destroyed {at}")
    typer.echo(f"registry: {len(destroyed)} subject key(s) destroyed")


@registry.command("announce-members")
def registry_announce_members(
    batch_size: Annotated[
        int, typer.Option(min=1, help="Households per transaction (bounded batches)")
    ] = 500,
    data_dir: DataDir = None,
) -> None:
    """Publish household.members-changed for every active household at its current version, so
    consumers that started keeping members in a new release learn the households registered
    before it (docs/operations.md). Consumers that have the version already change nothing."""
    _use_data_dir(data_dir)
    from linli_registry.app import announce_members

    with _progress() as progress:
        task = progress.add_task("announcing members", total=None)
        count = asyncio.run(
            announce_members(batch_size=batch_size, on_batch=lambda n: progress.advance(task, n))
        )
    typer.echo(f"registry: the members of {count} active household(s) announced again")


@app.command()
def permissions() -> None:
    """Print the permission matrix (which roles may call which route), read from the code."""
    typer.echo(matrix_markdown({name: d.create_app() for name, d in SERVICES.items()}))


def unreachable(error: BaseException) -> str | None:
    """One line saying which server a command could not reach, or None for any other error."""
    from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError

    hint = "; or give --data-dir for the data folder of `linli run`"
    if isinstance(error, KafkaConnectionError | KafkaTimeoutError | NodeNotReadyError):
        bootstrap = PlatformSettings().kafka_bootstrap_servers
        return (
            f"cannot reach Kafka at {bootstrap} ({_first_line(error)}): is it running? "
            f"LINLI_KAFKA_BOOTSTRAP_SERVERS names it{hint}"
        )
    if is_infrastructure_error(error):
        cause: BaseException = error
        while (inner := getattr(cause, "orig", None) or cause.__cause__) is not None:
            cause = inner
        return (
            f"cannot reach the database ({_first_line(cause)}): is it running? "
            f"LINLI_<SERVICE>_DATABASE_URL names it{hint}"
        )
    return None


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    name = type(error).__name__
    return text if text.startswith(name) else f"{name}: {text}"


def main() -> None:
    logging.captureWarnings(True)
    try:
        app()
    except Exception as error:
        message = unreachable(error)
        if message is None:
            raise
        typer.echo(f"linli: {message}", err=True)
        raise SystemExit(1) from None
