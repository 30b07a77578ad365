"""The common shape of every service's HTTP app: errors, correlation, tracing, health, auth."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from opentelemetry.trace import SpanKind
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linli_shared.audit import (
    AuditLog,
    AuditRecord,
    AuditUnavailable,
    audit_entry,
    audit_router,
    is_write,
)
from linli_shared.auth import BEARER_SCHEME, TokenVerifier
from linli_shared.context import correlation_id_from, event_context
from linli_shared.db import before_commit
from linli_shared.errors import PROBLEM_BASE, PROBLEM_JSON, Problem, install_problem_handlers
from linli_shared.health import ReadinessCheck, health_router
from linli_shared.metrics import HTTP_DURATION, HTTP_REQUESTS
from linli_shared.permissions import route_permissions
from linli_shared.retention import RetentionJob, retention_router
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
    retention: RetentionJob | None = None,
    body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """`body_limits`: a larger (or smaller) body limit for a few paths (`/v1/evidence`) than
    the platform's `max_request_bytes`, which every other path keeps. `retention`: the
    service's retention job, which admins may read and start (`/v1/retention/...`)."""
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        # CorrelationAndTrace owns the server span; FastAPI's own (on since an SDK tracer
        # provider is installed) would be a second one per request plus spans per dependency.
        telemetry={"tracing": False},
        generate_unique_id_function=operation_id,
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
    app.state.request_metrics = RequestMetrics(app.state.service_name)
    install_problem_handlers(app)
    app.add_middleware(CorrelationAndTrace)
    app.add_middleware(
        RequestGuard, max_bytes=platform.max_request_bytes, limits=dict(body_limits or {})
    )
    add_routes(app, health_router(readiness_checks))
    app.state.readiness_checks = readiness_checks
    if audit_log is not None:
        audit_log.hashing()  # an app's trail records what reveals ask: it needs the hash key
    app.state.audit_log = audit_log
    app.state.retention = retention
    routers = [*routers, audit_router()] if audit_log is not None else list(routers)
    if retention is not None:
        routers.append(retention_router())
    for router in routers:
        add_routes(app, router, API_PREFIX)
    _refuse_unguarded_routes(app)
    return app


def add_routes(app: FastAPI, router: APIRouter, prefix: str = "") -> None:
    """Register the router's routes on the app itself, under `prefix`, as `include_router` did
    before FastAPI 0.137. Since then `include_router` adds the router as a lazy branch, and every
    request matches that branch's routes twice (once to choose the branch, once to handle it),
    setting and restoring a scope key per candidate route: about a tenth of a hot read's CPU and
    a quarter of a late route's (docs/performance.md). The app documents the same API either way
    (tests/contracts/test_route_registration.py)."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"{route!r}: only path operations can be added to an app")
        app.router.add_api_route(
            prefix + route.path,
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=route.tags,
            dependencies=route.dependencies,
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=route.responses,
            deprecated=route.deprecated,
            methods=route.methods,
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            name=route.name,
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            strict_content_type=route.strict_content_type,
            max_body_size=route.max_body_size,
            form_limits=route.form_limits,
        )


def _refuse_unguarded_routes(app: FastAPI) -> None:
    """Every /v1 route authenticates through its role check (`require_roles`); a route without
    one would answer anybody, so the app is not built. (A router-wide `authenticated`
    dependency used to stand behind the role checks: FastAPI resolves every dependency again on
    each request, and it cost a read about 5 % of its CPU for no added safety.)"""
    unguarded = [f"{p.method} {p.path}" for p in route_permissions(app) if not p.declared]
    if unguarded:
        raise RuntimeError(f"routes without a role check (require_roles): {unguarded}")


def operation_id(route: APIRoute) -> str:
    """The route function's name (`get_score`): what generated clients call the operation."""
    return route.name


class CorrelationAndTrace:
    """Every request: its correlation id (echoed back), a server span, the audit trail entry
    and the request metrics.

    The audit entry of a write is inserted in the transaction that makes the change
    (`AuditLog.pending_write`); any other entry (a reveal, a refused write) is written while the
    answer is held back, and only once it is written does the answer leave. If it cannot be
    written the caller gets a 503 problem instead, without the data.

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
        # An id from outside is kept only if it is short and of a safe alphabet; else replaced.
        correlation_id = correlation_id_from(request.headers.get(CORRELATION_HEADER))
        started = time.perf_counter()
        status = 500
        log: AuditLog | None = request.app.state.audit_log
        pending = (
            log.pending_write(request, correlation_id)
            if log is not None and is_write(request.method)
            else None
        )
        held: list[Message] | None = None
        entry: AuditRecord | None = None

        async def answer(message: Message) -> None:
            nonlocal status, held, entry
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
                if log is not None and not (pending is not None and pending.recorded):
                    entry = audit_entry(request, status, correlation_id, log.hashing())
                    if entry is not None:
                        held = [message]
                        return
            elif held is not None and log is not None and entry is not None:
                held.append(message)
                if message.get("more_body"):
                    return
                try:
                    await log.record(entry)
                except Exception:
                    logger.exception(
                        "could not record the audit entry for %s %s", entry.method, entry.path
                    )
                    status = 503
                    await _audit_unavailable(scope, send, correlation_id)
                    return
                for kept in held:
                    await send(kept)
                return
            await send(message)

        with (
            span_from_traceparent(
                f"{request.method} {scope['path']}",
                request.headers.get("traceparent"),
                SpanKind.SERVER,
            ),
            event_context(correlation_id),
            before_commit(pending) if pending is not None else nullcontext(),
        ):
            await self._app(scope, receive, answer)
        metrics: RequestMetrics = request.app.state.request_metrics
        metrics.observe(request.method, _route_template(scope), status, started)


async def _audit_unavailable(scope: Scope, send: Send, correlation_id: str) -> None:
    error = AuditUnavailable()
    await _problem(
        scope,
        send,
        error.status,
        error.slug,
        error.title,
        error.detail or error.title,
        headers={CORRELATION_HEADER: correlation_id, "Retry-After": "1"},
    )


class RequestMetrics:
    """The request counter and duration histogram of one app, their labelled children kept:
    prometheus_client's `labels()` validates and locks on every call, a cost on every request."""

    def __init__(self, service: str) -> None:
        self._service = service
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, template: str, status: int, started: float) -> None:
        key = (method, template, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                HTTP_REQUESTS.labels(self._service, method, template, str(status)),
                HTTP_DURATION.labels(self._service, method, template),
            )
        counter, duration = children
        counter.inc()
        duration.observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    """The matched route's template (`/v1/households/{household_id}`), for bounded labels."""
    route = scope.get("route")
    template: str | None = getattr(route, "path", None)
    if template is None:
        return "unmatched"
    # Routers are included under API_PREFIX; the route object knows only its own part.
    if scope["path"].startswith(API_PREFIX) and not template.startswith(API_PREFIX):
        return API_PREFIX + template
    return str(template)


def _route_path(scope: Scope) -> str:
    """The path the app routes on: a mounted app (each service under its name in `linli run`)
    sees the whole path, with the mount's prefix in `root_path`."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class RequestGuard:
    """Before the app sees a request: the body is read up to the limit (413 beyond it, whether or
    not it declares a length), and no text in the path, the query or a JSON body may hold a NUL
    character (422 naming the field; PostgreSQL cannot store one). `limits` overrides the limit
    for exact paths."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, limits: Mapping[str, int] | None = None
    ) -> None:
        self._app = app
        self._max_bytes = max_bytes
        self._limits = dict(limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit = self._limits.get(_route_path(scope), self._max_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, send, limit)
            return
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            if received > limit:
                await self._too_large(scope, send, limit)
                return
            if not message.get("more_body"):
                break
        body = b"".join(m.get("body", b"") for m in messages)
        field = _nul_field_in_request(scope, body)
        if field is not None:
            await _problem(
                scope,
                send,
                422,
                "validation-error",
                "Request is not valid",
                f"invalid fields: {field}",
                errors=[
                    {
                        "field": field,
                        "message": "must not contain a NUL character",
                        "code": "nul_character",
                    }
                ],
            )
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self._app(scope, replay, send)

    async def _too_large(self, scope: Scope, send: Send, limit: int) -> None:
        await _problem(
            scope,
            send,
            413,
            "payload-too-large",
            "Request body too large",
            f"the limit is {limit} bytes",
        )


def _nul_field_in_request(scope: Scope, body: bytes) -> str | None:
    if "\x00" in scope["path"]:
        return "path"
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in key or "\x00" in value:
                return f"query.{key.replace(chr(0), '')}"
    # A NUL inside a JSON string can only be written as the escape \u0000.
    if b"\\u0000" in body:
        try:
            document = json.loads(body)
        except ValueError:
            return None  # not JSON: the app's own parsing answers
        return _nul_field(document, "")
    return None


def _nul_field(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return name.replace("\x00", "")
            items.append((name, item))
    elif isinstance(value, list):
        items = [(f"{path}.{i}" if path else str(i), item) for i, item in enumerate(value)]
    for name, item in items:
        found = _nul_field(item, name)
        if found is not None:
            return found
    return None


async def _problem(
    scope: Scope,
    send: Send,
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> None:
    response = JSONResponse(
        {
            "type": PROBLEM_BASE + slug,
            "title": title,
            "status": status,
            "detail": detail,
            "instance": scope["path"].replace("\x00", ""),
            **extra,
        },
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )

    async def nothing() -> Message:
        return {"type": "http.disconnect"}

    await response(scope, nothing, send)


def _problem_openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, saying what the service really sends: errors are problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    problem = {"$ref": "#/components/schemas/Problem"}
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            if path.startswith(API_PREFIX):  # every /v1 route has a role check (see below)
                operation["security"] = [{name: []} for name in BEARER_SCHEME]
            for status, response in operation.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {PROBLEM_JSON: {"schema": problem}}
    schema.setdefault("components", {})["securitySchemes"] = dict(BEARER_SCHEME)
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
