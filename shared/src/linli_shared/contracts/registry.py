"""Events published by the registry on `linli.registry.v1`.

This topic is never readable by partners. The personal data it carries (members' names, a
household's address, contacts) travel sealed for notify, each under the key of the subject it
is about (crypto-shredding: docs/privacy.md); events written before carry them in clear, or
contacts sealed under the platform's contact key.
Each event carries the state its consumers need (event-carried state transfer), so credit and
notify never call the registry.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, get_args
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, EmailStr, Field

from linli_shared.contracts import topics
from linli_shared.contracts.base import TOLERANT, EventData, dropping_unknown

Channel = Literal["email", "sms", "inbox"]
# A channel added by a later release is dropped by a reader that cannot use it.
Channels = Annotated[list[Channel], dropping_unknown(*get_args(Channel))]


def _email_only() -> list[Channel]:
    return ["email"]


# What a clear field required since 1.0.0 (a member's `name`, a household's `address`) carries
# when its value travels sealed in the field beside it: nothing.
SEALED_TEXT = ""


class MemberV1(BaseModel):
    model_config = TOLERANT

    name: str
    relation: str
    # Stable id of the resident across member changes and moves; ledger subject for personal rules.
    resident_id: UUID | None = None
    name_sealed: str | None = Field(
        default=None,
        description=(
            "The member's name sealed for notify under the resident's own key (bound to "
            "`resident_id`); `name` is then empty. Once the key is destroyed it opens nowhere"
        ),
    )


class ConsentV1(BaseModel):
    """What the household agreed to, and who recorded it when."""

    model_config = TOLERANT

    integrity_scoring: bool = False
    notice_channels: Channels = Field(default_factory=_email_only)
    recorded_by: str | None = None
    recorded_at: AwareDatetime | None = None


# What `HouseholdRegistered.contact_email` (required since 1.0.0) carries when the contact is
# sealed: an address in a reserved domain (RFC 2606) that no mail server accepts.
SEALED_EMAIL = "sealed@contact.linli.example"


class ContactV1(BaseModel):
    """How to reach a household or organisation (personal data).

    The registry seals the e-mail address and phone for notify under the key of the household or
    organisation (`subject_sealed`) and leaves `email` and `phone` empty, so neither the broker
    nor any other consumer holds them in clear; events written before carry them sealed under
    the platform's contact key (`sealed`), or in clear (readers accept all three).
    """

    model_config = TOLERANT

    email: EmailStr | None = None
    phone: str | None = None
    preferred_channels: Channels = Field(default_factory=_email_only)
    locale: str = "zh-CN"
    sealed: str | None = Field(
        default=None,
        description=(
            "Events written before subject keys: the e-mail address and phone, sealed for notify "
            "under the platform's contact key (bound to the household or organisation id)"
        ),
    )
    subject_sealed: str | None = Field(
        default=None,
        description=(
            "The e-mail address and phone sealed for notify under the key of the household or "
            "organisation the contact belongs to (bound to its id); `email` and `phone` are then "
            "empty. Once the key is destroyed it opens nowhere"
        ),
    )


class HouseholdRegistered(EventData):
    event_type: ClassVar[str] = "linli.registry.household.registered.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "household_id"

    household_id: UUID
    community_id: str
    grid_id: str
    address: str
    members: list[MemberV1]
    contact_email: EmailStr
    registered_at: AwareDatetime
    compound_id: str | None = None
    building_id: str | None = None
    contact: ContactV1 | None = None
    consent: ConsentV1 | None = None
    version: int = 1
    address_sealed: str | None = Field(
        default=None,
        description=(
            "The address sealed for notify under the household's key (bound to `household_id`); "
            "`address` is then empty"
        ),
    )


class HouseholdMoved(EventData):
    event_type: ClassVar[str] = "linli.registry.household.moved.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "household_id"

    household_id: UUID
    community_id: str
    grid_id: str
    address: str
    compound_id: str | None = None
    building_id: str | None = None
    moved_at: AwareDatetime
    version: int
    address_sealed: str | None = Field(
        default=None,
        description=(
            "The new address sealed for notify under the household's key (bound to "
            "`household_id`); `address` is then empty"
        ),
    )


class HouseholdMembersChanged(EventData):
    event_type: ClassVar[str] = "linli.registry.household.members-changed.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "household_id"

    household_id: UUID
    members: list[MemberV1]
    changed_at: AwareDatetime
    version: int


class HouseholdContactChanged(EventData):
    event_type: ClassVar[str] = "linli.registry.household.contact-changed.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "household_id"

    household_id: UUID
    contact: ContactV1
    changed_at: AwareDatetime
    version: int


class HouseholdConsentChanged(EventData):
    event_type: ClassVar[str] = "linli.registry.household.consent-changed.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "household_id"

    household_id: UUID
    consent: ConsentV1
    version: int


class HouseholdDeregistered(EventData):
    event_type: ClassVar[str] = "linli.registry.household.deregistered.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "household_id"

    household_id: UUID
    reason: str
    deregistered_at: AwareDatetime
    version: int


OrganisationKind = Literal["property_manager", "shop", "unit"]


class OrganisationRegistered(EventData):
    """A property manager (responsible for compounds) or a shop/unit with a frontage duty."""

    event_type: ClassVar[str] = "linli.registry.organisation.registered.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "organisation_id"

    organisation_id: UUID
    kind: OrganisationKind
    name: str
    community_id: str
    grid_id: str | None = None
    compound_ids: list[str] = Field(default_factory=list)
    frontage_segments: list[str] = Field(default_factory=list)
    contact: ContactV1
    registered_at: AwareDatetime
    version: int = 1


class OrganisationChanged(EventData):
    event_type: ClassVar[str] = "linli.registry.organisation.changed.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "organisation_id"

    organisation_id: UUID
    kind: OrganisationKind
    name: str
    community_id: str
    grid_id: str | None = None
    compound_ids: list[str] = Field(default_factory=list)
    frontage_segments: list[str] = Field(default_factory=list)
    contact: ContactV1
    changed_at: AwareDatetime
    version: int


# --- places -----------------------------------------------------------------------------------
# Communities, grids, compounds and buildings: no personal data of residents, only places, their
# ids and names, and who answers for them (a grid's worker, a compound's property manager).
# Each event carries the whole state of the place, so a consumer keeps a read model from them
# alone; the partition key is the place, so the events of one place arrive in order.


class CommunityCreated(EventData):
    event_type: ClassVar[str] = "linli.registry.community.created.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "community_id"

    community_id: str
    name: str
    # IANA time zone: weeks, deadlines and quiet hours of the community are counted in it.
    time_zone: str
    created_at: AwareDatetime


class CommunityChanged(EventData):
    event_type: ClassVar[str] = "linli.registry.community.changed.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "community_id"

    community_id: str
    name: str
    time_zone: str
    changed_at: AwareDatetime


class GridCreated(EventData):
    event_type: ClassVar[str] = "linli.registry.grid.created.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "grid_id"

    grid_id: str
    community_id: str
    name: str
    # The grid worker (staff, not a resident): the principal id and display name.
    worker_id: str | None = None
    worker_name: str | None = None
    created_at: AwareDatetime


class GridChanged(EventData):
    event_type: ClassVar[str] = "linli.registry.grid.changed.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "grid_id"

    grid_id: str
    community_id: str
    name: str
    worker_id: str | None = None
    worker_name: str | None = None
    changed_at: AwareDatetime


class CompoundCreated(EventData):
    event_type: ClassVar[str] = "linli.registry.compound.created.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "compound_id"

    compound_id: str
    community_id: str
    grid_id: str
    name: str
    address: str
    property_manager_id: UUID | None = None
    created_at: AwareDatetime


class CompoundChanged(EventData):
    """The compound's state after a change, e.g. a new (or no) property manager."""

    event_type: ClassVar[str] = "linli.registry.compound.changed.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "compound_id"

    compound_id: str
    community_id: str
    grid_id: str
    name: str
    address: str
    property_manager_id: UUID | None = None
    changed_at: AwareDatetime


class BuildingCreated(EventData):
    event_type: ClassVar[str] = "linli.registry.building.created.v1"
    topic: ClassVar[str] = topics.REGISTRY
    key_field: ClassVar[str] = "building_id"

    building_id: str
    compound_id: str
    community_id: str
    grid_id: str
    name: str
    created_at: AwareDatetime
