"""Notify's consumer group: recipients (and erasures) from the registry, notices from inspections
and credit.

Each event type is one line: the use case applies the typed event inside the processing
transaction (which also claims the event id in the inbox), so a redelivered event changes
nothing. The rectification notice comes from `inspection.failed` alone (service/making.py).
"""

from __future__ import annotations

from linli_notify.service import UseCases
from linli_shared.contracts import (
    AccessRequested,
    AppealDecided,
    AppealReceived,
    CommendationAwarded,
    ErasureRequested,
    GradeChanged,
    GreenChannelGranted,
    GreenChannelLost,
    HouseholdConsentChanged,
    HouseholdContactChanged,
    HouseholdDeregistered,
    HouseholdMembersChanged,
    HouseholdMoved,
    HouseholdRegistered,
    InspectionEscalated,
    InspectionFailed,
    OrganisationChanged,
    OrganisationRegistered,
    RectificationOverdue,
    RectificationVerified,
    ScoreChanged,
)
from linli_shared.messaging.processing import Subscription, on, on_sourced

GROUP = "linli-notify"


def subscriptions(use_cases: UseCases) -> list[Subscription]:
    recipients, making = use_cases.recipients, use_cases.making
    return [
        Subscription.of(
            GROUP,
            # recipients (registry)
            on(HouseholdRegistered, recipients.remember_household),
            on(HouseholdMoved, recipients.remember_household_move),
            on(HouseholdMembersChanged, recipients.remember_members),
            on(HouseholdContactChanged, recipients.remember_contacts),
            on(HouseholdConsentChanged, recipients.remember_consent),
            on(HouseholdDeregistered, recipients.forget_household),
            on(OrganisationRegistered, recipients.remember_organisation),
            on(OrganisationChanged, recipients.remember_organisation),
            on(ErasureRequested, use_cases.erasure.apply),
            on(AccessRequested, use_cases.access.apply),
            # notices (inspections)
            on_sourced(InspectionFailed, making.notice_rectification),
            on_sourced(RectificationVerified, making.notice_reinspection),
            on_sourced(RectificationOverdue, making.notice_overdue),
            on_sourced(InspectionEscalated, making.notice_overdue),
            # notices (credit)
            on_sourced(ScoreChanged, making.notice_score_change),
            on_sourced(GradeChanged, making.notice_grade_change),
            on_sourced(GreenChannelGranted, making.notice_green_channel),
            on_sourced(GreenChannelLost, making.notice_green_channel),
            on_sourced(AppealReceived, making.notice_appeal),
            on_sourced(AppealDecided, making.notice_appeal),
            on_sourced(CommendationAwarded, making.notice_commendation),
        )
    ]
