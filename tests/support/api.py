"""A service's HTTP API in the test's own process, over ASGI, with its lifespan run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI


@asynccontextmanager
async def api_client(app: FastAPI, host: str = "api") -> AsyncIterator[httpx.AsyncClient]:
    """A client of `app`. ASGITransport does not run the lifespan; it is run here, so the app's
    connection pool is disposed at the end."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}") as c,
    ):
        yield c


PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem of this status and type (its slug); its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].endswith(slug)
    assert body["title"]
    return body
