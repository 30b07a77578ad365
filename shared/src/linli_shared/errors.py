"""RFC 9457 problem details for every error a service returns."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from linli_shared.faults import is_infrastructure_error
from linli_shared.rules import RuleViolation

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://linli.dev/problems/"


class FieldError(BaseModel):
    field: str
    message: str
    code: str


class Problem(BaseModel):
    """Schema of the problem+json body, for the OpenAPI document."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raise from any layer to answer with a problem; `slug` names a stable problem type."""

    def __init__(self, status: int, slug: str, title: str, detail: str | None = None) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail


class NotFound(ProblemError):
    def __init__(self, what: str, identifier: object) -> None:
        super().__init__(404, "not-found", f"{what} not found", f"no {what} with id {identifier}")


class Conflict(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(409, "conflict", "Conflict", detail)


def problem_response(
    request: Request,
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _field_name(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        source, rest = parts[0], parts[1:]
        return ".".join(rest) if source == "body" and rest else ".".join(parts)
    return ".".join(parts)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_problem(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            FieldError(field=_field_name(item["loc"]), message=item["msg"], code=item["type"])
            for item in error.errors()
        ]
        names = ", ".join(sorted({e.field for e in errors}))
        return problem_response(
            request,
            422,
            "validation-error",
            "Request is not valid",
            f"invalid fields: {names}",
            errors=[e.model_dump() for e in errors],
        )

    @app.exception_handler(RuleViolation)
    async def rule_problem(request: Request, error: RuleViolation) -> JSONResponse:
        field_error = FieldError(field=error.field, message=error.message, code="rule_violation")
        return problem_response(
            request,
            422,
            "validation-error",
            "Request is not valid",
            f"invalid fields: {error.field}",
            errors=[field_error.model_dump()],
        )

    @app.exception_handler(ProblemError)
    async def domain_problem(request: Request, error: ProblemError) -> JSONResponse:
        return problem_response(request, error.status, error.slug, error.title, error.detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_problem(request: Request, error: StarletteHTTPException) -> JSONResponse:
        slug = {
            401: "unauthenticated",
            403: "forbidden",
            404: "not-found",
            405: "method-not-allowed",
            413: "payload-too-large",
        }
        response = problem_response(
            request,
            error.status_code,
            slug.get(error.status_code, "http-error"),
            str(error.detail),
        )
        if error.headers:
            response.headers.update(error.headers)
        return response

    # The database's and the network's errors are answered inside the app, as any other
    # answer is, so the middleware sees them (the correlation id, the metrics, the audit).
    # What the catch-all below answers, Starlette sends from outside every middleware and then
    # raises again for the server to log as a crash: right for a bug, wrong for an outage.
    async def dependency_problem(request: Request, error: Exception) -> JSONResponse:
        response = _dependency_problem(request, error)
        if response is None:
            raise error  # neither an outage nor a refused value: the catch-all's 500
        return response

    for kind in DEPENDENCY_ERRORS:
        app.add_exception_handler(kind, dependency_problem)

    @app.exception_handler(Exception)
    async def unexpected_problem(request: Request, error: Exception) -> JSONResponse:
        response = _dependency_problem(request, error)
        if response is not None:
            return response
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(request, 500, "internal-error", "Internal server error")


# What the database driver, SQLAlchemy and the network raise.
DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
)


def _dependency_problem(request: Request, error: Exception) -> JSONResponse | None:
    if is_infrastructure_error(error):
        # The database is away: nothing was written, the client may retry.
        log.warning("dependency unavailable on %s: %s", request.url.path, error)
        response = problem_response(
            request, 503, "service-unavailable", "Service temporarily unavailable"
        )
        response.headers["Retry-After"] = "1"
        return response
    if isinstance(error, sa_exc.DataError):
        # The database refused a value the schema let through (e.g. out of its range).
        log.warning("value refused by the database on %s: %s", request.url.path, error.orig)
        return problem_response(
            request, 422, "invalid-value", "A value is out of range or malformed"
        )
    return None
