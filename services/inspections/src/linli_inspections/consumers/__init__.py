"""Inspections subscribes to no events yet; it is where the loop starts."""

from linli_shared.messaging.processing import Subscription

from linli_inspections.service.inspections import InspectionsService


def subscriptions(service: InspectionsService) -> list[Subscription]:
    return []
