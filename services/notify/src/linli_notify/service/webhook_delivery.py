"""Partner webhook delivery: the webhook lane of the dispatcher posts each due message, signed,
on the Standard Webhooks retry schedule, and disables an endpoint that keeps failing."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from linli_notify.adapters.repository import NoticeRepository
from linli_notify.adapters.webhooks import WebhookResult, WebhookSender
from linli_notify.domain.delivery import DeliveryPolicy, WebhookAttempt, WebhookMessage
from linli_notify.domain.notice import WebhookEndpoint, should_disable, webhook_retry_at
from linli_shared.clock import Clock
from linli_shared.crypto import DecryptionFailed
from linli_shared.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookDeliveryUseCases:
    _database: Database
    _clock: Clock
    _sender: WebhookSender
    _policy: DeliveryPolicy

    async def deliver_next_webhook(self) -> bool:
        """Try the next due webhook message; False when none is due."""
        now = self._clock.now()
        async with self._database.transaction() as connection:
            notices = NoticeRepository(connection)
            found = await notices.next_webhook(now, skip_locked=not self._database.is_sqlite)
            if found is None:
                return False
            message, endpoint = found
            await self._post(notices, message, endpoint, now)
            return True

    async def _post(
        self,
        notices: NoticeRepository,
        message: WebhookMessage,
        endpoint: WebhookEndpoint,
        now: datetime,
    ) -> None:
        body = json.dumps(message.payload, ensure_ascii=False, separators=(",", ":"))
        try:
            secrets = self._sender.opened(endpoint).secrets
        except DecryptionFailed:  # a key was dropped too early: fail the attempt, not the lane
            result = WebhookResult(False, None, "not sent: no configured key decrypts its secrets")
        else:
            result = await self._sender.send(
                url=endpoint.url, secrets_=secrets, message_id=message.id, at=now, body=body
            )
        attempt = WebhookAttempt(
            "delivered" if result.ok else "failed", result.status_code, result.response, now
        )
        if result.ok:
            await notices.record_webhook_attempt(message, attempt, "delivered", now)
            await notices.update_endpoint(endpoint.id, consecutive_failures=0)
            return
        retry_at = webhook_retry_at(message.attempts + 1, now, self._policy.webhook_schedule)
        status = "failed" if retry_at is None else "pending"
        await notices.record_webhook_attempt(message, attempt, status, retry_at or now)
        failures = endpoint.consecutive_failures + 1
        if should_disable(failures, self._policy.webhook_disable_after):
            reason = (
                f"disabled after {failures} consecutive failed attempts; last: "
                f"{result.status_code or ''} {result.response}"
            ).strip()[:1000]
            await notices.update_endpoint(
                endpoint.id, consecutive_failures=failures, enabled=False, disabled_reason=reason
            )
            log.warning("webhook endpoint %s (%s) disabled: %s", endpoint.id, endpoint.url, reason)
        else:
            await notices.update_endpoint(endpoint.id, consecutive_failures=failures)
