"""The published language between Linli's services and its partner agencies.

One pydantic model per CloudEvents type and version. These are contracts, not domain models:
each service maps its own domain objects onto them when it publishes.
"""

from linli_shared.contracts.base import EventCatalogue, EventData
from linli_shared.contracts.credit import (
    AppealDecided,
    AppealReceived,
    CommendationAwarded,
    EntryRepaired,
    GradeChanged,
    GreenChannelGranted,
    GreenChannelLost,
    ScoreChanged,
)
from linli_shared.contracts.inspections import (
    InspectionEscalated,
    InspectionFailed,
    InspectionPassed,
    InspectionRecorded,
    RectificationOverdue,
    RectificationReady,
    RectificationRequested,
    RectificationVerified,
    ScheduleMissed,
)
from linli_shared.contracts.notify import NoticeDelivered, NoticeFailed
from linli_shared.contracts.partner import (
    PartnerInspectionCompleted,
    PartnerRectificationEscalated,
    PartnerRectificationOverdue,
    PartnerRectificationVerified,
)
from linli_shared.contracts.registry import (
    HouseholdConsentChanged,
    HouseholdContactChanged,
    HouseholdDeregistered,
    HouseholdMembersChanged,
    HouseholdMoved,
    HouseholdRegistered,
    OrganisationChanged,
    OrganisationRegistered,
)

CATALOGUE = EventCatalogue(
    [
        # registry
        HouseholdRegistered,
        HouseholdMoved,
        HouseholdMembersChanged,
        HouseholdContactChanged,
        HouseholdConsentChanged,
        HouseholdDeregistered,
        OrganisationRegistered,
        OrganisationChanged,
        # inspections
        InspectionRecorded,
        InspectionPassed,
        InspectionFailed,
        RectificationRequested,
        RectificationReady,
        RectificationVerified,
        RectificationOverdue,
        InspectionEscalated,
        ScheduleMissed,
        # inspections, partner-readable (linli.partner.inspections.v1)
        PartnerInspectionCompleted,
        PartnerRectificationOverdue,
        PartnerRectificationEscalated,
        PartnerRectificationVerified,
        # credit
        ScoreChanged,
        GradeChanged,
        GreenChannelGranted,
        GreenChannelLost,
        AppealReceived,
        AppealDecided,
        CommendationAwarded,
        EntryRepaired,
        # notify
        NoticeDelivered,
        NoticeFailed,
    ]
)

__all__ = [
    "CATALOGUE",
    "AppealDecided",
    "AppealReceived",
    "CommendationAwarded",
    "EntryRepaired",
    "EventCatalogue",
    "EventData",
    "GradeChanged",
    "GreenChannelGranted",
    "GreenChannelLost",
    "HouseholdConsentChanged",
    "HouseholdContactChanged",
    "HouseholdDeregistered",
    "HouseholdMembersChanged",
    "HouseholdMoved",
    "HouseholdRegistered",
    "InspectionEscalated",
    "InspectionFailed",
    "InspectionPassed",
    "InspectionRecorded",
    "NoticeDelivered",
    "NoticeFailed",
    "OrganisationChanged",
    "OrganisationRegistered",
    "PartnerInspectionCompleted",
    "PartnerRectificationEscalated",
    "PartnerRectificationOverdue",
    "PartnerRectificationVerified",
    "RectificationOverdue",
    "RectificationReady",
    "RectificationRequested",
    "RectificationVerified",
    "ScheduleMissed",
    "ScoreChanged",
]
