"""SMS through a city's HTTP gateway: URL, credentials and payload mapping come from settings.

Providers differ in everything but the idea: one HTTP request per message, an answer that says
accepted or not. The body is a template (`sms_payload`) whose strings may hold `{to}`, `{text}`
and `{notice_id}`. Every request carries `Idempotency-Key: <notice-id>.sms`, the same for every
copy of one notice, so a gateway that honours it sends a resend after a crash once; an HTTP
status outside 2xx, or a `sms_success_field` in the JSON answer whose
value is not among `sms_success_values`, is a failure.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from linli_notify.adapters.channels import DeliveryError
from linli_notify.domain.delivery import RenderedNotice
from linli_notify.settings import NotifySettings

_PLACEHOLDER = re.compile(r"\{(to|text|notice_id)\}")
_LOGGED = 1000


class SmsGatewayChannel:
    name = "sms"

    def __init__(self, settings: NotifySettings, client: httpx.AsyncClient | None = None) -> None:
        if not settings.sms_gateway_url:
            raise ValueError("LINLI_NOTIFY_SMS_GATEWAY_URL is not set")
        self._settings = settings
        self._url = settings.sms_gateway_url
        self._client = client

    async def send(self, *, to: str, notice: RenderedNotice, notice_id: str) -> str:
        settings = self._settings
        values = {"to": to, "text": notice.sms, "notice_id": notice_id}
        payload = fill(settings.sms_payload, values)
        headers = {name: value.get_secret_value() for name, value in settings.sms_headers.items()}
        headers["Idempotency-Key"] = idempotency_key(notice_id)
        auth = (
            httpx.BasicAuth(
                settings.sms_username,
                settings.sms_password.get_secret_value() if settings.sms_password else "",
            )
            if settings.sms_username
            else None
        )
        request: dict[str, Any] = {"headers": headers, "timeout": settings.sms_timeout_seconds}
        if auth is not None:
            request["auth"] = auth
        if settings.sms_payload_format == "json":
            request["json"] = payload
        else:
            request["data"] = {k: _flat(v) for k, v in payload.items()}
        if self._client is None:
            # Kept for the process's life: a client per message would cost an SSL context
            # and a TLS handshake with the gateway each time.
            self._client = httpx.AsyncClient()
        try:
            response = await self._client.post(self._url, **request)
        except httpx.HTTPError as error:
            raise DeliveryError(f"sms gateway unreachable: {error!r}") from error
        answer = f"{response.status_code} {response.text[:_LOGGED]}".strip()
        if not response.is_success:
            raise DeliveryError(f"sms gateway refused: HTTP {response.status_code}", answer)
        if settings.sms_success_field:
            value = _dig(response, settings.sms_success_field)
            if value is None or str(value) not in settings.sms_success_values:
                raise DeliveryError(
                    f"sms gateway refused: {settings.sms_success_field}={value!r}", answer
                )
        return answer


def idempotency_key(notice_id: str) -> str:
    """The notice's one key on the SMS channel: every copy of it sends the same."""
    return f"{notice_id}.sms"


def fill(template: Any, values: dict[str, str]) -> Any:
    """Replace the placeholders in every string of a JSON-like template (other braces stay)."""
    if isinstance(template, str):
        return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)
    if isinstance(template, dict):
        return {key: fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(value, values) for value in template]
    return template


def _flat(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _dig(response: httpx.Response, path: str) -> Any:
    try:
        found: Any = response.json()
    except ValueError:
        return None
    for part in path.split("."):
        if not isinstance(found, dict) or part not in found:
            return None
        found = found[part]
    return found
