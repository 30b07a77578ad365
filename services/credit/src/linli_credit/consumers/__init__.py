"""Credit's consumer group: opens accounts from the registry, scores failed inspections."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_credit.service.ledger import CreditService
from linli_shared.contracts import HouseholdRegistered, InspectionFailed
from linli_shared.contracts.base import EventData
from linli_shared.contracts.common import SubjectKind
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.processing import Subscription

GROUP = "linli-credit"


def subscriptions(service: CreditService) -> list[Subscription]:
    async def on_household_registered(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, HouseholdRegistered)
        await service.open_account(connection, event.household_id, SubjectKind.HOUSEHOLD)

    async def on_inspection_failed(
        connection: AsyncConnection, event: EventData, envelope: Envelope
    ) -> None:
        assert isinstance(event, InspectionFailed)
        await service.record_failed_inspection(connection, event, envelope.id)

    return [
        Subscription(
            GROUP,
            {
                HouseholdRegistered: on_household_registered,
                InspectionFailed: on_inspection_failed,
            },
        )
    ]
