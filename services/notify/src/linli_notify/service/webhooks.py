"""Partner webhook endpoints (city IT registers them): their signing secrets, subscriptions,
enabling, and the log of messages sent to each."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from linli_notify.adapters.repository import NoticeRepository
from linli_notify.adapters.webhooks import WebhookSender, new_secret
from linli_notify.domain.delivery import WebhookAttempt, WebhookMessage
from linli_notify.domain.notice import PARTNER_NOTICE_TYPES, NoticeType, WebhookEndpoint
from linli_shared.clock import Clock
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.pagination import PageRequest, Slice
from linli_shared.rules import RuleViolation

MessageLog = tuple[WebhookMessage, list[WebhookAttempt]]


@dataclass(frozen=True)
class WebhookUseCases:
    _database: Database
    _clock: Clock
    _sender: WebhookSender

    async def add_webhook(
        self,
        *,
        name: str,
        url: str,
        notice_types: list[NoticeType],
        department: str | None,
        secret: str | None = None,
    ) -> WebhookEndpoint:
        """The endpoint with its signing secret in clear: the one time it is shown."""
        _check_partner_types(notice_types)
        await self._sender.check_url(url)
        endpoint = WebhookEndpoint(
            id=uuid.uuid4(),
            name=name,
            url=url,
            secrets=(secret or new_secret(),),
            notice_types=tuple(notice_types),
            department=department,
            created_at=self._clock.now(),
        )
        sealed = replace(endpoint, secrets=tuple(self._sender.seal(endpoint.secrets)))
        async with self._database.transaction() as connection:
            await NoticeRepository(connection).add_endpoint(sealed)
        return endpoint

    async def webhooks(self, page: PageRequest) -> Slice[WebhookEndpoint]:
        async with self._database.connect() as connection:
            found = await NoticeRepository(connection).endpoint_page(page)
        return Slice([self._sender.opened(e) for e in found.items], found.total, page)

    async def webhook(self, endpoint_id: uuid.UUID) -> WebhookEndpoint:
        async with self._database.connect() as connection:
            endpoint = await NoticeRepository(connection).endpoint(endpoint_id)
        if endpoint is None:
            raise NotFound("webhook endpoint", endpoint_id)
        return self._sender.opened(endpoint)

    async def update_webhook(
        self,
        endpoint_id: uuid.UUID,
        *,
        url: str | None = None,
        notice_types: list[NoticeType] | None = None,
        enabled: bool | None = None,
    ) -> WebhookEndpoint:
        values: dict[str, object] = {}
        if url is not None:
            await self._sender.check_url(url)
            values["url"] = url
        if notice_types is not None:
            _check_partner_types(notice_types)
            values["notice_types"] = [t.value for t in notice_types]
        if enabled is not None:
            values["enabled"] = enabled
            if enabled:  # a fresh start: the partner says it is fixed
                values.update(consecutive_failures=0, disabled_reason=None)
        return await self._change_endpoint(endpoint_id, values)

    async def rotate_webhook_secret(
        self, endpoint_id: uuid.UUID, *, keep_previous: bool
    ) -> WebhookEndpoint:
        """A new secret signs from now on; the previous one also signs until it is retired."""
        endpoint = await self.webhook(endpoint_id)
        kept = endpoint.secrets[:1] if keep_previous else ()
        secrets = self._sender.seal([new_secret(), *kept])
        return await self._change_endpoint(endpoint_id, {"secrets": secrets})

    async def retire_previous_secrets(self, endpoint_id: uuid.UUID) -> WebhookEndpoint:
        endpoint = await self.webhook(endpoint_id)
        secrets = self._sender.seal(endpoint.secrets[:1])
        return await self._change_endpoint(endpoint_id, {"secrets": secrets})

    async def webhook_messages(
        self, endpoint_id: uuid.UUID, page: PageRequest
    ) -> Slice[MessageLog]:
        await self.webhook(endpoint_id)
        async with self._database.connect() as connection:
            repository = NoticeRepository(connection)
            messages = await repository.messages_of(endpoint_id, page)
            logs = [(m, await repository.webhook_attempts_of(m.id)) for m in messages.items]
        return Slice(logs, messages.total, page)

    async def _change_endpoint(
        self, endpoint_id: uuid.UUID, values: dict[str, object]
    ) -> WebhookEndpoint:
        async with self._database.transaction() as connection:
            repository = NoticeRepository(connection)
            if await repository.endpoint(endpoint_id, lock=True) is None:
                raise NotFound("webhook endpoint", endpoint_id)
            if values:
                await repository.update_endpoint(endpoint_id, **values)
            endpoint = await repository.endpoint(endpoint_id)
        if endpoint is None:
            raise NotFound("webhook endpoint", endpoint_id)
        return self._sender.opened(endpoint)


def _check_partner_types(notice_types: list[NoticeType]) -> None:
    for index, notice_type in enumerate(notice_types):
        if notice_type not in PARTNER_NOTICE_TYPES:
            raise RuleViolation(
                f"notice_types.{index}",
                f"{notice_type.value} carries personal data; partners may subscribe to: "
                + ", ".join(sorted(t.value for t in PARTNER_NOTICE_TYPES)),
            )
