"""The registry's events, built field by field from the domain's values.

Each event carries the state its consumers need. Personal data travel sealed for notify, each
value under the key of the subject it is about (`Seals`, from `SubjectKeys`): members' names
under the resident's key, a household's address and contact under the household's, an
organisation's contact under the organisation's. ID numbers never travel at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from linli_registry.domain.household import Consent, Contact, Household
from linli_registry.domain.organisation import Organisation
from linli_registry.domain.places import Building, Community, Compound, Grid
from linli_registry.domain.subject_keys import SubjectKind
from linli_shared.contracts.registry import (
    SEALED_EMAIL,
    SEALED_TEXT,
    BuildingCreated,
    CommunityChanged,
    CommunityCreated,
    CompoundChanged,
    CompoundCreated,
    ConsentV1,
    ContactV1,
    GridChanged,
    GridCreated,
    HouseholdContactChanged,
    HouseholdMembersChanged,
    HouseholdMoved,
    HouseholdRegistered,
    MemberV1,
    OrganisationChanged,
    OrganisationRegistered,
)
from linli_shared.crypto import Sealer

# --- places ---------------------------------------------------------------------------------


def community_created(community: Community, now: datetime) -> CommunityCreated:
    return CommunityCreated(
        community_id=community.id,
        name=community.name,
        time_zone=community.time_zone,
        created_at=now,
    )


def community_changed(community: Community, now: datetime) -> CommunityChanged:
    return CommunityChanged(
        community_id=community.id,
        name=community.name,
        time_zone=community.time_zone,
        changed_at=now,
    )


def grid_created(grid: Grid, now: datetime) -> GridCreated:
    return GridCreated(
        grid_id=grid.id,
        community_id=grid.community_id,
        name=grid.name,
        worker_id=grid.worker_id,
        worker_name=grid.worker_name,
        created_at=now,
    )


def grid_changed(grid: Grid, now: datetime) -> GridChanged:
    return GridChanged(
        grid_id=grid.id,
        community_id=grid.community_id,
        name=grid.name,
        worker_id=grid.worker_id,
        worker_name=grid.worker_name,
        changed_at=now,
    )


def compound_created(compound: Compound, now: datetime) -> CompoundCreated:
    return CompoundCreated(
        compound_id=compound.id,
        community_id=compound.community_id,
        grid_id=compound.grid_id,
        name=compound.name,
        address=compound.address,
        property_manager_id=compound.property_manager_id,
        created_at=now,
    )


def compound_changed(compound: Compound, now: datetime) -> CompoundChanged:
    return CompoundChanged(
        compound_id=compound.id,
        community_id=compound.community_id,
        grid_id=compound.grid_id,
        name=compound.name,
        address=compound.address,
        property_manager_id=compound.property_manager_id,
        changed_at=now,
    )


def building_created(building: Building, compound: Compound, now: datetime) -> BuildingCreated:
    return BuildingCreated(
        building_id=building.id,
        compound_id=compound.id,
        community_id=compound.community_id,
        grid_id=compound.grid_id,
        name=building.name,
        created_at=now,
    )


# --- households ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Seals:
    """The keys of the subjects one event is about (`SubjectKeys.keys_for`): each personal value
    is sealed under its subject's key, bound to the subject's id. A destroyed key (None) seals
    nothing: the value does not travel at all."""

    keys: Mapping[uuid.UUID, str | None]

    def seal(self, subject: uuid.UUID, values: Mapping[str, str | None]) -> str | None:
        key = self.keys[subject]
        return None if key is None else Sealer([key]).seal(str(subject), values)


def household_subjects(household: Household) -> dict[uuid.UUID, SubjectKind]:
    """The subjects whose personal data a household's events carry: it and its residents."""
    subjects: dict[uuid.UUID, SubjectKind] = {household.id: "household"}
    subjects.update({m.resident_id: "resident" for m in household.members if m.resident_id})
    return subjects


def members_v1(household: Household, seals: Seals) -> list[MemberV1]:
    """Each member's name sealed under the resident's own key; the clear name stays empty."""
    return [
        MemberV1(
            name=SEALED_TEXT,
            relation=m.relation,
            resident_id=m.resident_id,
            name_sealed=seals.seal(m.resident_id, {"name": m.name}) if m.resident_id else None,
        )
        for m in household.members
    ]


def contact_v1(contact: Contact, subject: uuid.UUID, seals: Seals) -> ContactV1:
    """The contact as it travels: e-mail and phone sealed under the key of the household or
    organisation it belongs to, never in clear."""
    return ContactV1(
        preferred_channels=list(contact.preferred_channels),
        subject_sealed=seals.seal(subject, {"email": contact.email, "phone": contact.phone}),
    )


def address_sealed(household: Household, seals: Seals) -> str | None:
    return seals.seal(household.id, {"address": household.address})


def consent_v1(consent: Consent) -> ConsentV1:
    return ConsentV1(
        integrity_scoring=consent.integrity_scoring,
        notice_channels=list(consent.notice_channels),
        recorded_by=consent.recorded_by,
        recorded_at=consent.recorded_at,
    )


def household_registered(household: Household, seals: Seals) -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id=household.id,
        community_id=household.community_id,
        grid_id=household.grid_id,
        # Required since 1.0.0: empty; the address travels sealed beside it.
        address=SEALED_TEXT,
        address_sealed=address_sealed(household, seals),
        members=members_v1(household, seals),
        # Required since 1.0.0: a reserved, undeliverable address; the real one is sealed.
        contact_email=SEALED_EMAIL,
        registered_at=household.registered_at,
        compound_id=household.compound_id,
        building_id=household.building_id,
        contact=contact_v1(household.contact, household.id, seals),
        # Consent not yet recorded travels as null: consumers apply their own default.
        consent=consent_v1(household.consent) if household.consent.recorded_at else None,
        version=household.version,
    )


def household_moved(household: Household, now: datetime, seals: Seals) -> HouseholdMoved:
    return HouseholdMoved(
        household_id=household.id,
        community_id=household.community_id,
        grid_id=household.grid_id,
        address=SEALED_TEXT,
        address_sealed=address_sealed(household, seals),
        compound_id=household.compound_id,
        building_id=household.building_id,
        moved_at=now,
        version=household.version,
    )


def household_members_changed(
    household: Household, now: datetime, seals: Seals
) -> HouseholdMembersChanged:
    return HouseholdMembersChanged(
        household_id=household.id,
        members=members_v1(household, seals),
        changed_at=now,
        version=household.version,
    )


def household_contact_changed(
    household: Household, now: datetime, seals: Seals
) -> HouseholdContactChanged:
    return HouseholdContactChanged(
        household_id=household.id,
        contact=contact_v1(household.contact, household.id, seals),
        changed_at=now,
        version=household.version,
    )


# --- organisations --------------------------------------------------------------------------


def organisation_registered(organisation: Organisation, seals: Seals) -> OrganisationRegistered:
    return OrganisationRegistered(
        organisation_id=organisation.id,
        kind=organisation.kind.value,
        name=organisation.name,
        community_id=organisation.community_id,
        grid_id=organisation.grid_id,
        compound_ids=list(organisation.compound_ids),
        frontage_segments=list(organisation.frontage_segments),
        contact=contact_v1(organisation.contact, organisation.id, seals),
        registered_at=organisation.registered_at,
        version=organisation.version,
    )


def organisation_changed(
    organisation: Organisation, now: datetime, seals: Seals
) -> OrganisationChanged:
    return OrganisationChanged(
        organisation_id=organisation.id,
        kind=organisation.kind.value,
        name=organisation.name,
        community_id=organisation.community_id,
        grid_id=organisation.grid_id,
        compound_ids=list(organisation.compound_ids),
        frontage_segments=list(organisation.frontage_segments),
        contact=contact_v1(organisation.contact, organisation.id, seals),
        changed_at=now,
        version=organisation.version,
    )
