"""The port every outbound channel implements, and the one error it raises."""

from __future__ import annotations

from typing import Protocol

from linli_notify.domain.delivery import RenderedNotice


class DeliveryError(Exception):
    """The channel refused or could not take the message; `response` is what the peer said."""

    def __init__(self, message: str, response: str | None = None) -> None:
        super().__init__(message)
        self.response = response or message


class Sender(Protocol):
    """Sends one rendered notice to one address; returns the peer's answer for the log."""

    name: str

    async def send(self, *, to: str, notice: RenderedNotice, notice_id: str) -> str: ...
