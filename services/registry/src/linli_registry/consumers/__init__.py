"""The registry is the source of household data; it subscribes to no events yet."""

from linli_registry.service.households import RegistryService
from linli_shared.messaging.processing import Subscription


def subscriptions(service: RegistryService) -> list[Subscription]:
    return []
