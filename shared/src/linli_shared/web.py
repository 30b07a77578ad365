"""The common shape of every service's HTTP app: errors, correlation, tracing, health, auth."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from opentelemetry.trace import SpanKind

from linli_shared.auth import authenticated
from linli_shared.context import event_context
from linli_shared.errors import Problem, install_problem_handlers
from linli_shared.settings import PlatformSettings
from linli_shared.telemetry import span_from_traceparent

CORRELATION_HEADER = "X-Correlation-ID"

ReadinessCheck = Callable[[], Awaitable[None]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_service_app(
    *,
    title: str,
    description: str,
    platform: PlatformSettings,
    routers: Sequence[APIRouter],
    readiness_checks: Sequence[ReadinessCheck],
    lifespan: Lifespan | None = None,
) -> FastAPI:
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        responses={
            401: {"model": Problem, "description": "Missing or invalid bearer token"},
            403: {"model": Problem, "description": "Role not allowed"},
            422: {"model": Problem, "description": "Validation error naming the fields"},
        },
    )
    app.state.platform_settings = platform
    install_problem_handlers(app)
    app.middleware("http")(_correlation_and_trace)
    app.include_router(_health_router(readiness_checks))
    for router in routers:
        app.include_router(router, prefix="/v1", dependencies=[Depends(authenticated)])
    return app


async def _correlation_and_trace(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    correlation_id = request.headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
    name = f"{request.method} {request.url.path}"
    with (
        span_from_traceparent(name, request.headers.get("traceparent"), SpanKind.SERVER),
        event_context(correlation_id),
    ):
        response = await call_next(request)
    response.headers[CORRELATION_HEADER] = correlation_id
    return response


def _health_router(checks: Sequence[ReadinessCheck]) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: the database (and broker) answer")
    async def readyz() -> JSONResponse:
        failures = []
        for check in checks:
            try:
                await check()
            except Exception as error:
                failures.append(f"{getattr(check, '__qualname__', 'check')}: {error}")
        if failures:
            return JSONResponse({"status": "unavailable", "failures": failures}, status_code=503)
        return JSONResponse({"status": "ready"})

    return router


@asynccontextmanager
async def no_lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
