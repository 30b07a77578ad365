"""The open-loop steps' HTTP client (`bench/lean_http.py`) against a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from starlette.types import Receive, Scope, Send

from bench.lean_http import LeanHttp
from tests.support.infra import free_port
from tests.support.polling import eventually

SERVER_KEEP_ALIVE = 1  # seconds uvicorn keeps an idle connection open


class _Accepting:
    """Answers 201 to every request, noting the client address (one per connection)."""

    def __init__(self) -> None:
        self.connections: set[tuple[str, int]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.connections.add(tuple(scope["client"]))
            await _accepted(receive, send)


async def _accepted(receive: Receive, send: Send) -> None:
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


@contextlib.asynccontextmanager
async def _server() -> AsyncIterator[tuple[str, _Accepting]]:
    port = free_port()
    app = _Accepting()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        timeout_keep_alive=SERVER_KEEP_ALIVE,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())

    async def started() -> bool:
        return bool(server.started)

    await eventually(started, "uvicorn to start", within=10)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        await serving


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async with _server() as (url, app):
        client = LeanHttp(url, {}, keepalive_expiry=SERVER_KEEP_ALIVE / 2)
        try:
            assert await client.post_json("/v1/inspections", {"n": 1}) == 201
            await asyncio.sleep(SERVER_KEEP_ALIVE * 1.5)  # the server closes the idle connection
            assert await client.post_json("/v1/inspections", {"n": 2}) == 201
        finally:
            await client.aclose()
        assert len(app.connections) == 2


async def test_a_busy_client_keeps_one_connection() -> None:
    async with _server() as (url, app):
        client = LeanHttp(url, {})
        try:
            for n in range(5):
                assert await client.post_json("/v1/inspections", {"n": n}) == 201
        finally:
            await client.aclose()
        assert len(app.connections) == 1
