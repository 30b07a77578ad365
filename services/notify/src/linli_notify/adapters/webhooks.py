"""Partner webhooks per the Standard Webhooks spec.

Each request carries `webhook-id` (the message id, the same on every retry so the receiver can
drop duplicates), `webhook-timestamp` (unix seconds) and `webhook-signature`: `v1,<base64
HMAC-SHA256 of "{id}.{timestamp}.{body}">` per secret, space-separated. During a secret rotation
the endpoint has two secrets and the request is signed with both, so the partner can switch
without losing a message.

Every request goes only where the egress rules allow (adapters/egress.py), to the address they
checked, without following redirects or proxies from the environment. What is kept of an attempt
is a short summary (the status code and its class, or why it did not connect), never the body:
a partner's answer is not echoed back to whoever reads the delivery log.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

import httpx
from standardwebhooks.webhooks import Webhook

from linli_notify.adapters.egress import EgressPolicy, EgressRefused, Target
from linli_notify.domain.notice import WebhookEndpoint
from linli_shared.crypto import KeyRing
from linli_shared.rules import RuleViolation


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


def summary(status_code: int) -> str:
    """What an answer says, without its body."""
    if 200 <= status_code < 300:
        return f"accepted (HTTP {status_code})"
    if 300 <= status_code < 400:
        return f"redirect not followed (HTTP {status_code})"
    if 400 <= status_code < 500:
        return f"rejected by the partner (HTTP {status_code})"
    return f"partner error (HTTP {status_code})"


class WebhookSender:
    """Posts signed messages within the egress rules; keeps the signing secrets encrypted at
    rest (the endpoint table holds only `cipher` tokens of them)."""

    def __init__(self, timeout: float, egress: EgressPolicy, cipher: KeyRing) -> None:
        self._timeout = timeout
        self._egress = egress
        self._cipher = cipher

    def seal(self, secrets_: Iterable[str]) -> list[str]:
        return [self._cipher.encrypt(secret) for secret in secrets_]

    def opened(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        return replace(endpoint, secrets=tuple(self._cipher.decrypt(s) for s in endpoint.secrets))

    async def check_url(self, url: str, field: str = "url") -> None:
        """Refuse a URL the egress rules already rule out (RuleViolation naming `field`)."""
        try:
            await self._egress.check_registration(url)
        except EgressRefused as refused:
            detail = f"refused by the webhook egress rules: {refused.reason}"
            raise RuleViolation(field, detail) from refused

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
            target = await self._egress.resolve(url)
        except EgressRefused as refused:
            return WebhookResult(False, None, f"refused by the egress rules: {refused.reason}")
        headers["host"] = target.host_header
        try:
            async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
                response = await self._post(client, target, body.encode(), headers)
        except httpx.TimeoutException:
            return WebhookResult(False, None, "unreachable: timed out")
        except httpx.HTTPError as error:
            return WebhookResult(False, None, f"unreachable: {type(error).__name__}")
        code = response.status_code
        return WebhookResult(response.is_success, code, summary(code))

    async def _post(
        self, client: httpx.AsyncClient, target: Target, body: bytes, headers: dict[str, str]
    ) -> httpx.Response:
        """To the first checked address that takes the connection (the name as Host and SNI)."""
        extensions = {"sni_hostname": target.server_name} if target.server_name else {}

        async def post(url: httpx.URL) -> httpx.Response:
            return await client.post(
                url, content=body, headers=headers, timeout=self._timeout, extensions=extensions
            )

        for pinned in target.urls[:-1]:
            with contextlib.suppress(httpx.ConnectError):
                return await post(pinned)
        return await post(target.urls[-1])
