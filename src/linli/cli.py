"""`linli`: one command for running, migrating and operating the platform."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from alembic import command

from linli.services import SERVICES, by_name
from linli_shared.auth import ROLES, mint_dev_token
from linli_shared.logs import configure_logging
from linli_shared.migrations import alembic_config, upgrade
from linli_shared.settings import PlatformSettings
from linli_shared.telemetry import configure_tracing

app = typer.Typer(help="Linli: event-driven community governance.", no_args_is_help=True)

ServiceName = Annotated[str, typer.Argument(help="registry | inspections | credit | notify")]


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
    uvicorn.run(definition.create_app(), host=host, port=port, log_config=None)


@app.command()
def worker(service: ServiceName) -> None:
    """Run one service's worker: its outbox relay and its event consumers."""
    definition = by_name(service)
    configure_logging(PlatformSettings().log_level)
    configure_tracing(f"linli-{service}-worker")

    async def main() -> None:
        service_worker = definition.create_worker()
        service_worker.install_signal_handlers()
        await service_worker.run()

    asyncio.run(main())


@app.command()
def migrate(
    service: Annotated[str, typer.Argument(help="A service, or 'all'")] = "all",
    revision: Annotated[str, typer.Option(help="Target revision")] = "head",
) -> None:
    """Bring the services' databases up to date (Alembic)."""
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
) -> None:
    """Mint a development bearer token signed with the local dev key."""
    typer.echo(mint_dev_token(PlatformSettings(), subject, role or ["admin"], grid or []))


def main() -> None:
    logging.captureWarnings(True)
    app()
