"""The registry's events, built field by field from the domain's values.

Each event carries the state its consumers need. Contacts travel sealed for notify (the e-mail
address and phone never in clear); ID numbers never travel at all.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from linli_registry.domain.household import Consent, Contact, Household
from linli_registry.domain.organisation import Organisation
from linli_registry.domain.places import Building, Community, Compound, Grid
from linli_shared.contracts.registry import (
    SEALED_EMAIL,
    BuildingCreated,
    CommunityChanged,
    CommunityCreated,
    CompoundChanged,
    CompoundCreated,
    ConsentV1,
    ContactV1,
    GridChanged,
    GridCreated,
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


# --- households -----------------------------------------------------------------------------


def members_v1(household: Household) -> list[MemberV1]:
    return [
        MemberV1(name=m.name, relation=m.relation, resident_id=m.resident_id)
        for m in household.members
    ]


def contact_v1(contact: Contact, subject: uuid.UUID, sealer: Sealer) -> ContactV1:
    """The contact as it travels: e-mail and phone sealed for notify, never in clear."""
    return ContactV1(
        preferred_channels=list(contact.preferred_channels),
        sealed=sealer.seal(str(subject), {"email": contact.email, "phone": contact.phone}),
    )


def consent_v1(consent: Consent) -> ConsentV1:
    return ConsentV1(
        integrity_scoring=consent.integrity_scoring,
        notice_channels=list(consent.notice_channels),
        recorded_by=consent.recorded_by,
        recorded_at=consent.recorded_at,
    )


def household_registered(household: Household, sealer: Sealer) -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id=household.id,
        community_id=household.community_id,
        grid_id=household.grid_id,
        address=household.address,
        members=members_v1(household),
        # Required since 1.0.0: a reserved, undeliverable address; the real one is sealed.
        contact_email=SEALED_EMAIL,
        registered_at=household.registered_at,
        compound_id=household.compound_id,
        building_id=household.building_id,
        contact=contact_v1(household.contact, household.id, sealer),
        # Consent not yet recorded travels as null: consumers apply their own default.
        consent=consent_v1(household.consent) if household.consent.recorded_at else None,
        version=household.version,
    )


# --- organisations --------------------------------------------------------------------------


def organisation_registered(organisation: Organisation, sealer: Sealer) -> OrganisationRegistered:
    return OrganisationRegistered(
        organisation_id=organisation.id,
        kind=organisation.kind.value,
        name=organisation.name,
        community_id=organisation.community_id,
        grid_id=organisation.grid_id,
        compound_ids=list(organisation.compound_ids),
        frontage_segments=list(organisation.frontage_segments),
        contact=contact_v1(organisation.contact, organisation.id, sealer),
        registered_at=organisation.registered_at,
        version=organisation.version,
    )


def organisation_changed(
    organisation: Organisation, now: datetime, sealer: Sealer
) -> OrganisationChanged:
    return OrganisationChanged(
        organisation_id=organisation.id,
        kind=organisation.kind.value,
        name=organisation.name,
        community_id=organisation.community_id,
        grid_id=organisation.grid_id,
        compound_ids=list(organisation.compound_ids),
        frontage_segments=list(organisation.frontage_segments),
        contact=contact_v1(organisation.contact, organisation.id, sealer),
        changed_at=now,
        version=organisation.version,
    )
