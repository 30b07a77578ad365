"""A recipient's own choices (channel order, quiet hours, the daily digest), and the grid
workers' contacts staff keep in notify (the registry does not publish grid workers yet)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from linli_notify.adapters.repository import NoticeRepository
from linli_notify.domain.delivery import Preferences
from linli_notify.domain.notice import (
    Channel,
    Recipient,
    RecipientKind,
    grid_worker_id,
    normalise_locale,
)
from linli_notify.service.reach import reached_recipient
from linli_shared.clock import Clock
from linli_shared.db import Database
from linli_shared.errors import NotFound
from linli_shared.pagination import PageRequest, Slice
from linli_shared.reach import EVERYWHERE, Reach
from linli_shared.rules import RuleViolation


@dataclass(frozen=True)
class PreferenceUseCases:
    _database: Database
    _clock: Clock

    async def preferences(
        self, recipient_id: uuid.UUID, reach: Reach = EVERYWHERE
    ) -> tuple[Recipient, Preferences]:
        async with self._database.connect() as connection:
            recipient = await reached_recipient(NoticeRepository(connection), recipient_id, reach)
        return recipient, _preferences(recipient)

    async def set_preferences(
        self, recipient_id: uuid.UUID, preferences: Preferences, reach: Reach = EVERYWHERE
    ) -> tuple[Recipient, Preferences]:
        """A recipient leaving the digest gets what was held for it at once."""
        quiet = preferences.quiet_hours
        async with self._database.transaction() as connection:
            repository = NoticeRepository(connection)
            await reached_recipient(repository, recipient_id, reach)
            await repository.update_recipient(
                recipient_id,
                channel_order=(
                    [c.value for c in preferences.channel_order]
                    if preferences.channel_order
                    else None
                ),
                quiet_start=quiet.start.strftime("%H:%M") if quiet else None,
                quiet_end=quiet.end.strftime("%H:%M") if quiet else None,
                digest=preferences.digest,
            )
            if not preferences.digest:
                await repository.release_held(recipient_id, self._clock.now())
            recipient = await reached_recipient(repository, recipient_id, EVERYWHERE)
        return recipient, _preferences(recipient)


@dataclass(frozen=True)
class GridContactUseCases:
    """Grid workers' contacts: who hears of overdue rectifications in each grid."""

    _database: Database

    async def set_grid_contact(
        self,
        grid_id: str,
        *,
        name: str,
        email: str | None,
        phone: str | None,
        channels: list[Channel],
        locale: str,
    ) -> Recipient:
        if not email and not phone:
            raise RuleViolation("email", "a grid contact needs an e-mail address or a phone")
        recipient = Recipient(
            id=grid_worker_id(grid_id),
            name=name,
            email=email,
            kind=RecipientKind.GRID_WORKER,
            phone=phone,
            preferred_channels=tuple(channels),
            locale=normalise_locale(locale),
            grid_id=grid_id,
        )
        async with self._database.transaction() as connection:
            await NoticeRepository(connection).upsert_recipient(recipient)
        return recipient

    async def grid_contacts(self, page: PageRequest) -> Slice[Recipient]:
        async with self._database.connect() as connection:
            return await NoticeRepository(connection).grid_contacts(page)

    async def remove_grid_contact(self, grid_id: str) -> None:
        async with self._database.transaction() as connection:
            if not await NoticeRepository(connection).remove_grid_contact(grid_id):
                raise NotFound("grid contact", grid_id)


def _preferences(recipient: Recipient) -> Preferences:
    return Preferences(
        channel_order=list(recipient.channel_order) if recipient.channel_order else None,
        quiet_hours=recipient.quiet_hours,
        digest=recipient.digest,
    )
