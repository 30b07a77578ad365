"""Notify's consumer group: recipients from the registry, notices from inspections and credit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_notify.service.notices import NotifyService
from linli_shared.contracts import HouseholdRegistered, InspectionFailed, ScoreChanged
from linli_shared.contracts.base import EventData
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.processing import Subscription

GROUP = "linli-notify"


def subscriptions(service: NotifyService) -> list[Subscription]:
    async def on_household_registered(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, HouseholdRegistered)
        await service.remember_household(connection, event)

    async def on_inspection_failed(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, InspectionFailed)
        await service.notice_rectification(connection, event, envelope.id)

    async def on_score_changed(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, ScoreChanged)
        await service.notice_score_change(connection, event, envelope.id)

    return [
        Subscription(
            GROUP,
            {
                HouseholdRegistered: on_household_registered,
                InspectionFailed: on_inspection_failed,
                ScoreChanged: on_score_changed,
            },
        )
    ]
