"""A lean HTTP/1.1 keep-alive client for the open-loop steps (fixed offered rates).

wrk drives closed loops; an open loop needs each request's send time to time request → notice,
which wrk does not report per request. This client writes a prebuilt request on a pooled
keep-alive connection and reads only the status line, headers and `Content-Length` body: a
fraction of a millisecond of CPU per request (the loop bench reports its thread's CPU apart),
where an httpx request cost ≈ 15 ms of CPU on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

# uvicorn closes a keep-alive connection after 5 s idle (`timeout_keep_alive`). One idle for
# nearly that long is not reused: the server may close it while the request is on its way, and
# the request fails (`IncompleteReadError`) though the server never saw it. httpx's
# `keepalive_expiry` is the same rule.
KEEPALIVE_EXPIRY_SECONDS = 4.0

_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class LeanHttp:
    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        timeout: float = 15.0,
        keepalive_expiry: float = KEEPALIVE_EXPIRY_SECONDS,
    ) -> None:
        parts = urlsplit(base_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._timeout = timeout
        self._expiry = keepalive_expiry
        self._idle: list[tuple[_Connection, float]] = []  # with when each went idle

    async def post_json(self, path: str, body: object) -> int:
        """The answer's status code; raises OSError/TimeoutError on a broken connection."""
        payload = json.dumps(body, separators=(",", ":")).encode()
        request = (
            f"POST {self._prefix}{path} HTTP/1.1\r\nHost: {self._host}\r\n{self._head}"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        reader, writer = await self._connection()
        try:
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self._timeout)
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await asyncio.wait_for(reader.readexactly(length), self._timeout)
        except BaseException:
            writer.close()
            raise
        self._idle.append(((reader, writer), time.monotonic()))
        return status

    async def _connection(self) -> _Connection:
        """The most recently used idle connection the server has not closed and will not close
        soon, else a new one."""
        while self._idle:
            (reader, writer), idle_since = self._idle.pop()
            if not reader.at_eof() and time.monotonic() - idle_since < self._expiry:
                return reader, writer
            writer.close()
        return await asyncio.open_connection(self._host, self._port)

    async def aclose(self) -> None:
        for (_, writer), _ in self._idle:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self._idle.clear()
