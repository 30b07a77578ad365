"""Credit's consumer group: accounts (households, organisations, residents) from the registry,
entries from inspections."""

from __future__ import annotations

from linli_credit.service import UseCases
from linli_shared.contracts import (
    AccessRequested,
    ErasureRequested,
    HouseholdConsentChanged,
    HouseholdDeregistered,
    HouseholdMembersChanged,
    HouseholdMoved,
    HouseholdRegistered,
    InspectionFailed,
    OrganisationChanged,
    OrganisationRegistered,
    RectificationOverdue,
    RectificationVerified,
)
from linli_shared.messaging.processing import Subscription, on, on_sourced

GROUP = "linli-credit"


def subscriptions(credit: UseCases) -> list[Subscription]:
    accounts, posting = credit.accounts, credit.posting
    return [
        Subscription.of(
            GROUP,
            on(HouseholdRegistered, accounts.remember_household),
            on(HouseholdMoved, accounts.remember_household_move),
            on(HouseholdConsentChanged, accounts.remember_consent),
            on(HouseholdMembersChanged, accounts.remember_members),
            on(HouseholdDeregistered, accounts.forget_household),
            on(OrganisationRegistered, accounts.remember_organisation),
            on(OrganisationChanged, accounts.remember_organisation),
            on(ErasureRequested, credit.erasure.apply),
            on(AccessRequested, credit.access.apply),
            on_sourced(InspectionFailed, posting.record_failed_inspection),
            on_sourced(RectificationVerified, posting.record_rectification),
            on_sourced(RectificationOverdue, posting.record_rectification),
        )
    ]
