"""The common shape of every service's HTTP app: errors, correlation, tracing, health, auth."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from opentelemetry.trace import SpanKind
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linli_shared.audit import AuditLog, audit_entry, audit_router
from linli_shared.auth import TokenVerifier, authenticated
from linli_shared.context import event_context
from linli_shared.errors import PROBLEM_BASE, PROBLEM_JSON, Problem, install_problem_handlers
from linli_shared.health import ReadinessCheck, health_router
from linli_shared.metrics import HTTP_DURATION, HTTP_REQUESTS
from linli_shared.settings import PlatformSettings
from linli_shared.telemetry import span_from_traceparent

CORRELATION_HEADER = "X-Correlation-ID"
API_PREFIX = "/v1"
logger = logging.getLogger(__name__)

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_service_app(
    *,
    title: str,
    description: str,
    platform: PlatformSettings,
    routers: Sequence[APIRouter],
    readiness_checks: Mapping[str, ReadinessCheck],
    lifespan: Lifespan | None = None,
    audit_log: AuditLog | None = None,
) -> FastAPI:
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        # CorrelationAndTrace owns the server span; FastAPI's own (on since an SDK tracer
        # provider is installed) would be a second one per request plus spans per dependency.
        telemetry={"tracing": False},
        responses={
            401: {"model": Problem, "description": "Missing or invalid bearer token"},
            403: {"model": Problem, "description": "Role not allowed"},
            413: {"model": Problem, "description": "Request body too large"},
            422: {"model": Problem, "description": "Validation error naming the fields"},
            503: {"model": Problem, "description": "A dependency is unavailable; retry"},
        },
    )
    app.openapi = lambda: _problem_openapi(app)  # type: ignore[method-assign]
    app.state.platform_settings = platform
    app.state.token_verifier = TokenVerifier(platform)
    app.state.service_name = title.removeprefix("Linli ").lower()
    install_problem_handlers(app)
    app.add_middleware(CorrelationAndTrace)
    app.add_middleware(BodySizeLimit, max_bytes=platform.max_request_bytes)
    app.include_router(health_router(readiness_checks))
    app.state.audit_log = audit_log
    routers = [*routers, audit_router()] if audit_log is not None else list(routers)
    for router in routers:
        app.include_router(router, prefix=API_PREFIX, dependencies=[Depends(authenticated)])
    return app


class CorrelationAndTrace:
    """Every request: its correlation id (echoed back), a server span, the audit trail entry
    (written before the last byte of the answer leaves) and the request metrics.

    A plain ASGI middleware on purpose: `app.middleware("http")` (Starlette's
    BaseHTTPMiddleware) runs the app in another task behind memory streams, which on a read by
    key cost about as much as the read itself (docs/performance.md, "API reads").
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request = Request(scope)
        correlation_id = request.headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
        started = time.perf_counter()
        status = 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                await _audit(request, status, correlation_id)
            await send(message)

        with (
            span_from_traceparent(
                f"{request.method} {request.url.path}",
                request.headers.get("traceparent"),
                SpanKind.SERVER,
            ),
            event_context(correlation_id),
        ):
            await self._app(scope, receive, answer)
        template = _route_template(request)
        service = request.app.state.service_name
        HTTP_REQUESTS.labels(service, request.method, template, str(status)).inc()
        HTTP_DURATION.labels(service, request.method, template).observe(
            time.perf_counter() - started
        )


def _route_template(request: Request) -> str:
    """The matched route's template (`/v1/households/{household_id}`), for bounded labels."""
    route = request.scope.get("route")
    template: str | None = getattr(route, "path", None)
    if template is None:
        return "unmatched"
    # Routers are included under API_PREFIX; the route object knows only its own part.
    if request.url.path.startswith(API_PREFIX) and not template.startswith(API_PREFIX):
        return API_PREFIX + template
    return str(template)


async def _audit(request: Request, status: int, correlation_id: str) -> None:
    log: AuditLog | None = request.app.state.audit_log
    entry = audit_entry(request, status, correlation_id) if log is not None else None
    if log is None or entry is None:
        return
    try:
        await log.record(entry)
    except Exception:
        # The answer is already decided; losing a trail entry is logged loudly, not hidden.
        logger.exception("could not record the audit entry for %s %s", entry.method, entry.path)


class BodySizeLimit:
    """Refuse request bodies over the limit with 413, whether or not they declare a length."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
            await self._too_large(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self._max_bytes:
                raise _TooLarge
            return message

        try:
            await self._app(scope, counting_receive, send)
        except _TooLarge:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {
                "type": PROBLEM_BASE + "payload-too-large",
                "title": "Request body too large",
                "status": 413,
                "detail": f"the limit is {self._max_bytes} bytes",
            },
            status_code=413,
            media_type=PROBLEM_JSON,
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def _problem_openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, saying what the service really sends: errors are problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    problem = {"$ref": "#/components/schemas/Problem"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {PROBLEM_JSON: {"schema": problem}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(components["Problem"].pop("$defs", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    app.openapi_schema = schema
    return schema


@asynccontextmanager
async def no_lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
