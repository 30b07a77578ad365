"""The registry's consumer group: the other services' answers to an erasure and to an access
request (docs/privacy.md).

Each event type is one line: the use case applies the typed event inside the processing
transaction (which also claims the event id in the inbox), so a redelivered answer changes
nothing.
"""

from __future__ import annotations

from linli_registry.service import UseCases
from linli_shared.contracts.access import (
    CreditAccessAnswered,
    InspectionsAccessAnswered,
    NotifyAccessAnswered,
)
from linli_shared.contracts.erasure import (
    CreditErasureApplied,
    InspectionsErasureApplied,
    NotifyErasureApplied,
)
from linli_shared.messaging.processing import Subscription, on

GROUP = "linli-registry"


def subscriptions(use_cases: UseCases) -> list[Subscription]:
    erasure, access = use_cases.erasure, use_cases.access
    return [
        Subscription.of(
            GROUP,
            on(InspectionsErasureApplied, erasure.record_answer),
            on(CreditErasureApplied, erasure.record_answer),
            on(NotifyErasureApplied, erasure.record_answer),
            on(InspectionsAccessAnswered, access.record_answer),
            on(CreditAccessAnswered, access.record_answer),
            on(NotifyAccessAnswered, access.record_answer),
        )
    ]
