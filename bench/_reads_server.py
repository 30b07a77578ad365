"""Serve one app the way `linli serve` does (same logging, tracing, uvicorn call) for the bench.

`python -m bench._reads_server raw|bare|floor|credit|registry PORT`: the bare FastAPI baseline
runs under the services' server setup (uvicorn call, logging), so the ratio measures the service,
not the server; it has no tracer provider, so it is FastAPI with nothing added. `floor` is
FastAPI with one read by key on PostgreSQL and nothing else (see `floor_app`).
"""

from __future__ import annotations

import cProfile
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from linli_shared.logs import configure_logging
from linli_shared.settings import PlatformSettings
from linli_shared.telemetry import configure_tracing


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.get("/bare")
    async def bare() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def floor_app() -> FastAPI:
    """The least a read by key can cost here: FastAPI, a UUID path parameter and credit's
    account statement through the services' read pool (asyncpg's pool, as the hot reads use
    it), and nothing of the platform: no role check, audit, tracing, metrics, domain objects or
    response model. What a hot read costs beyond this is the platform's; what this costs beyond
    bare FastAPI is the framework's and the driver's (docs/performance.md, "How the figures are
    taken")."""
    from linli_credit.adapters.reads import ACCOUNT
    from linli_credit.settings import CreditSettings
    from linli_shared.read_pool import ReadPool

    pool = ReadPool(CreditSettings().database_url)

    @asynccontextmanager
    async def closing(app: FastAPI) -> AsyncIterator[None]:
        yield
        await pool.close()

    app = FastAPI(lifespan=closing)

    @app.get("/floor/{subject_id}")
    async def floor(subject_id: uuid.UUID) -> dict[str, bool]:
        return {"found": await pool.fetchrow(ACCOUNT, subject_id) is not None}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def raw_app(scope: Scope, receive: Receive, send: Send) -> None:
    """No framework: what uvicorn and the load generator manage together on this machine. wrk
    driving it far past the bare FastAPI baseline shows the generator is not that baseline's
    bottleneck."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": _RAW_HEADERS})
    await send({"type": "http.response.body", "body": b'{"status":"ok"}'})


_RAW_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"15")]


def build(target: str) -> ASGIApp:
    if target == "raw":
        return raw_app
    if target == "bare":
        return bare_app()
    if target == "floor":
        return floor_app()
    if target == "credit":
        from linli_credit.app import create_app as credit_app

        return credit_app()
    if target == "registry":
        from linli_registry.app import create_app as registry_app

        return registry_app()
    raise SystemExit(f"unknown target {target!r}")


def main() -> None:
    target, port = sys.argv[1], int(sys.argv[2])
    configure_logging(PlatformSettings().log_level)
    if target not in ("raw", "bare", "floor"):
        # The bare baseline stays bare: with an SDK tracer provider installed, FastAPI's own
        # telemetry would switch itself on and slow the baseline (flattering every ratio).
        configure_tracing(f"linli-{target}")
    app = build(target)
    profile_to = os.environ.get("BENCH_PROFILE")
    if not profile_to:
        uvicorn.run(app, host="127.0.0.1", port=port, log_config=None)
        return
    # cProfile (standard library): no profiler dependency; the server thread is the event loop.
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_config=None)
    finally:
        profiler.disable()
        profiler.dump_stats(profile_to)


if __name__ == "__main__":
    main()
