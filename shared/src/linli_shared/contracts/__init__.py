"""The published language between Linli's services and its partner agencies.

One pydantic model per CloudEvents type and version. These are contracts, not domain models:
each service maps its own domain objects onto them when it publishes.
"""

from linli_shared.contracts.base import EventCatalogue, EventData
from linli_shared.contracts.credit import (
    AccountClosed,
    AccountOpened,
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
from linli_shared.contracts.partner_credit import (
    PartnerGradeChanged,
    PartnerGreenChannelGranted,
    PartnerGreenChannelRevoked,
)
from linli_shared.contracts.partner_inspections import (
    PartnerInspectionCompleted,
    PartnerRectificationEscalated,
    PartnerRectificationOverdue,
    PartnerRectificationVerified,
)
from linli_shared.contracts.registry import (
    BuildingCreated,
    CommunityChanged,
    CommunityCreated,
    CompoundChanged,
    CompoundCreated,
    GridChanged,
    GridCreated,
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
        CommunityCreated,
        CommunityChanged,
        GridCreated,
        GridChanged,
        CompoundCreated,
        CompoundChanged,
        BuildingCreated,
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
        AccountOpened,
        AccountClosed,
        # credit, for partners (no personal data)
        PartnerGradeChanged,
        PartnerGreenChannelGranted,
        PartnerGreenChannelRevoked,
        # notify
        NoticeDelivered,
        NoticeFailed,
    ]
)

__all__ = [
    "CATALOGUE",
    "AccountClosed",
    "AccountOpened",
    "AppealDecided",
    "AppealReceived",
    "BuildingCreated",
    "CommendationAwarded",
    "CommunityChanged",
    "CommunityCreated",
    "CompoundChanged",
    "CompoundCreated",
    "EntryRepaired",
    "EventCatalogue",
    "EventData",
    "GradeChanged",
    "GreenChannelGranted",
    "GreenChannelLost",
    "GridChanged",
    "GridCreated",
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
    "PartnerGradeChanged",
    "PartnerGreenChannelGranted",
    "PartnerGreenChannelRevoked",
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
