"""Inspections subscribes to no events yet; it is where the loop starts."""

from linli_inspections.service.inspections import InspectionsService
from linli_shared.messaging.processing import Subscription


def subscriptions(service: InspectionsService) -> list[Subscription]:
    return []
