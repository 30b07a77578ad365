"""Inspections' consumer group: the registry's read model (who answers for each target, the
grids and compounds, each community's time zone, which household each resident is in), from the
registry's events; and, from notify's, when a case's responsible party was told (its comply-by
period starts then)."""

from __future__ import annotations

from linli_inspections.service import UseCases
from linli_shared.contracts import (
    AccessRequested,
    CommunityChanged,
    CommunityCreated,
    CompoundChanged,
    CompoundCreated,
    ErasureRequested,
    GridChanged,
    GridCreated,
    HouseholdDeregistered,
    HouseholdMembersChanged,
    HouseholdMoved,
    HouseholdRegistered,
    NoticeDelivered,
    NoticeFailed,
    OrganisationChanged,
    OrganisationRegistered,
)
from linli_shared.messaging.processing import Subscription, on

GROUP = "linli-inspections"


def subscriptions(use_cases: UseCases) -> list[Subscription]:
    places, cases = use_cases.places, use_cases.cases
    return [
        Subscription.of(
            GROUP,
            on(HouseholdRegistered, places.remember_household),
            on(HouseholdMoved, places.remember_household_move),
            on(HouseholdMembersChanged, places.remember_members),
            on(HouseholdDeregistered, places.forget_household),
            on(OrganisationRegistered, places.remember_organisation),
            on(OrganisationChanged, places.remember_organisation),
            on(CommunityCreated, places.remember_community),
            on(CommunityChanged, places.remember_community),
            on(GridCreated, places.remember_grid),
            on(GridChanged, places.remember_grid),
            on(CompoundCreated, places.remember_compound),
            on(CompoundChanged, places.remember_compound),
            on(ErasureRequested, use_cases.erasure.apply),
            on(AccessRequested, use_cases.access.apply),
            on(NoticeDelivered, cases.record_notification),
            on(NoticeFailed, cases.record_failed_notice),
        )
    ]
