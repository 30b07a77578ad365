"""Partner webhooks per the Standard Webhooks spec.

Each request carries `webhook-id` (the message id, the same on every retry so the receiver can
drop duplicates), `webhook-timestamp` (unix seconds) and `webhook-signature`: `v1,<base64
HMAC-SHA256 of "{id}.{timestamp}.{body}">` per secret, space-separated. During a secret rotation
the endpoint has two secrets and the request is signed with both, so the partner can switch
without losing a message.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime

import httpx
from standardwebhooks.webhooks import Webhook

_LOGGED = 1000


def new_secret() -> str:
    """A fresh `whsec_<base64>` secret (24 random bytes, as the spec's examples use)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def signature_header(secrets_: tuple[str, ...], message_id: str, at: datetime, body: str) -> str:
    return " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets_)


@dataclass(frozen=True)
class WebhookResult:
    ok: bool
    status_code: int | None
    response: str


class WebhookSender:
    def __init__(self, timeout: float, client: httpx.AsyncClient | None = None) -> None:
        self._timeout = timeout
        self._client = client

    async def send(
        self, *, url: str, secrets_: tuple[str, ...], message_id: str, at: datetime, body: str
    ) -> WebhookResult:
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature_header(secrets_, message_id, at, body),
            "user-agent": "linli-notify",
        }
        try:
            if self._client is not None:
                response = await self._client.post(
                    url, content=body.encode(), headers=headers, timeout=self._timeout
                )
            else:
                async with httpx.AsyncClient() as client:
                    response = await client.post(
                        url, content=body.encode(), headers=headers, timeout=self._timeout
                    )
        except httpx.HTTPError as error:
            return WebhookResult(False, None, f"unreachable: {error!r}"[:_LOGGED])
        return WebhookResult(response.is_success, response.status_code, response.text[:_LOGGED])
