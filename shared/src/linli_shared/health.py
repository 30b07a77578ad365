"""Liveness and readiness: what `/healthz` and `/readyz` of APIs and workers answer.

A readiness check is a coroutine that returns when its dependency answers and raises otherwise.
Each runs with a short timeout, so a dependency that hangs reads as down rather than hanging the
probe; checks that reach over the network are cached for a few seconds, so Kubernetes probing
every replica often does not turn into a stream of broker connections.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from linli_shared.metrics import READINESS

ReadinessCheck = Callable[[], Awaitable[None]]

CHECK_TIMEOUT_SECONDS = 2.0
BROKER_CACHE_SECONDS = 5.0


class CachedCheck:
    """A check whose outcome (success or failure) is reused for `seconds`; one probe at a time."""

    def __init__(
        self,
        check: ReadinessCheck,
        seconds: float = BROKER_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._seconds = seconds
        self._clock = clock
        self._lock = asyncio.Lock()
        self._checked_at: float | None = None
        self._error: Exception | None = None

    async def __call__(self) -> None:
        async with self._lock:
            if self._checked_at is None or self._clock() - self._checked_at >= self._seconds:
                self._error = await _outcome(self._check)
                self._checked_at = self._clock()
        if self._error is not None:
            raise self._error


async def _outcome(check: ReadinessCheck) -> Exception | None:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return TimeoutError(f"no answer within {CHECK_TIMEOUT_SECONDS:g}s")
    except Exception as error:
        return error
    return None


async def readiness(checks: Mapping[str, ReadinessCheck]) -> JSONResponse:
    """200 when every check passes, 503 otherwise; the body names each check's result."""
    outcomes = await asyncio.gather(*(_outcome(check) for check in checks.values()))
    results: dict[str, Any] = {
        name: {"status": "ok"} if error is None else {"status": "failed", "error": _say(error)}
        for name, error in zip(checks, outcomes, strict=True)
    }
    for name, error in zip(checks, outcomes, strict=True):
        READINESS.labels(name).set(1 if error is None else 0)
    ready = all(error is None for error in outcomes)
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": results},
        status_code=200 if ready else 503,
    )


def _say(error: Exception) -> str:
    return str(error) or type(error).__name__


def health_router(checks: Mapping[str, ReadinessCheck]) -> APIRouter:
    """`/healthz`, `/readyz` and `/metrics`: the same three on every API and worker."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @router.get("/readyz", summary="Readiness: the dependencies answer, each check named")
    async def readyz() -> JSONResponse:
        return await readiness(checks)

    return router
