"""Notify's consumer group: recipients from the registry, notices from inspections and credit.

Each handler is thin: it calls one use case inside the processing transaction (which also claims
the event id in the inbox), so a redelivered event changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_notify.service.notices import NotifyService
from linli_shared.contracts import (
    AppealDecided,
    AppealReceived,
    CommendationAwarded,
    GradeChanged,
    GreenChannelGranted,
    GreenChannelLost,
    HouseholdConsentChanged,
    HouseholdContactChanged,
    HouseholdDeregistered,
    HouseholdMoved,
    HouseholdRegistered,
    InspectionEscalated,
    InspectionFailed,
    OrganisationChanged,
    OrganisationRegistered,
    RectificationOverdue,
    RectificationRequested,
    RectificationVerified,
    ScoreChanged,
)
from linli_shared.contracts.base import EventData
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.processing import Handler, Subscription

GROUP = "linli-notify"

E = TypeVar("E", bound=EventData)


def _state(model: type[E], use_case: Callable[[AsyncConnection, E], Awaitable[None]]) -> Handler:
    """A handler that updates the read model from the event."""

    async def handle(connection: AsyncConnection, event: EventData, envelope: Envelope) -> None:
        assert isinstance(event, model)
        await use_case(connection, event)

    return handle


def _notice(
    model: type[E], use_case: Callable[[AsyncConnection, E, str], Awaitable[None]]
) -> Handler:
    """A handler that makes a notice from the event (the event id is its source)."""

    async def handle(connection: AsyncConnection, event: EventData, envelope: Envelope) -> None:
        assert isinstance(event, model)
        await use_case(connection, event, envelope.id)

    return handle


def subscriptions(service: NotifyService) -> list[Subscription]:
    handlers: dict[type[EventData], Handler] = {
        # recipients (registry)
        HouseholdRegistered: _state(HouseholdRegistered, service.remember_household),
        HouseholdMoved: _state(HouseholdMoved, service.household_moved),
        HouseholdContactChanged: _state(HouseholdContactChanged, service.household_contact_changed),
        HouseholdConsentChanged: _state(HouseholdConsentChanged, service.household_consent_changed),
        HouseholdDeregistered: _state(HouseholdDeregistered, service.household_deregistered),
        OrganisationRegistered: _state(OrganisationRegistered, service.remember_organisation),
        OrganisationChanged: _state(OrganisationChanged, service.remember_organisation),
        # notices (inspections)
        InspectionFailed: _notice(InspectionFailed, service.notice_rectification),
        RectificationRequested: _notice(
            RectificationRequested, service.notice_rectification_requested
        ),
        RectificationVerified: _notice(RectificationVerified, service.notice_reinspection),
        RectificationOverdue: _notice(RectificationOverdue, service.notice_overdue),
        InspectionEscalated: _notice(InspectionEscalated, service.notice_overdue),
        # notices (credit)
        ScoreChanged: _notice(ScoreChanged, service.notice_score_change),
        GradeChanged: _notice(GradeChanged, service.notice_grade_change),
        GreenChannelGranted: _notice(GreenChannelGranted, service.notice_green_channel),
        GreenChannelLost: _notice(GreenChannelLost, service.notice_green_channel),
        AppealReceived: _notice(AppealReceived, service.notice_appeal),
        AppealDecided: _notice(AppealDecided, service.notice_appeal),
        CommendationAwarded: _notice(CommendationAwarded, service.notice_commendation),
    }
    return [Subscription(GROUP, handlers)]
