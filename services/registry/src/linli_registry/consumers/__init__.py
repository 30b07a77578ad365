"""The registry is the source of household data; it subscribes to no events yet."""

from linli_registry.service import UseCases
from linli_shared.messaging.processing import Subscription


def subscriptions(use_cases: UseCases) -> list[Subscription]:
    return []
