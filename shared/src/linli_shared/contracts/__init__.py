"""The published language between Linli's services and its partner agencies.

One pydantic model per CloudEvents type and version. These are contracts, not domain models:
each service maps its own domain objects onto them when it publishes.
"""

from linli_shared.contracts.base import EventCatalogue, EventData
from linli_shared.contracts.credit import ScoreChanged
from linli_shared.contracts.inspections import InspectionFailed, InspectionPassed
from linli_shared.contracts.notify import NoticeDelivered, NoticeFailed
from linli_shared.contracts.registry import HouseholdRegistered

CATALOGUE = EventCatalogue(
    [
        HouseholdRegistered,
        InspectionPassed,
        InspectionFailed,
        ScoreChanged,
        NoticeDelivered,
        NoticeFailed,
    ]
)

__all__ = [
    "CATALOGUE",
    "EventCatalogue",
    "EventData",
    "HouseholdRegistered",
    "InspectionFailed",
    "InspectionPassed",
    "NoticeDelivered",
    "NoticeFailed",
    "ScoreChanged",
]
