from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from linli_registry.domain.access import AccessRequest
from linli_registry.domain.erasure import Erasure
from linli_registry.domain.household import Household, Member
from linli_registry.domain.organisation import Organisation, OrganisationKind
from linli_registry.domain.personal import mask_id_number, mask_phone
from linli_registry.domain.places import Building, Community, Compound, Grid
from linli_registry.domain.records import HistoryEntry
from linli_registry.domain.subject_keys import SubjectKey, SubjectKind
from linli_registry.service.access import Export
from linli_registry.service.disclosure import DataCopy
from linli_shared.pagination import Page

Channel = Literal["email", "sms", "inbox"]


def _email_only() -> list[Channel]:
    return ["email"]


Id = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    relation: str = Field(
        min_length=1, max_length=50, examples=["head", "spouse", "child", "parent"]
    )
    birth_date: date | None = None
    id_number: str | None = Field(
        default=None, description="Resident ID number: 18 characters with a check digit"
    )
    phone: str | None = Field(default=None, description="Mobile number: 11 digits starting with 1")
    resident_id: uuid.UUID | None = Field(
        default=None,
        description=(
            "When changing members: the resident id of a member who stays (as returned); "
            "omitted, a member is matched by ID number, else is a new resident"
        ),
    )

    def member(self) -> Member:
        return Member(
            self.name,
            self.relation,
            self.birth_date,
            self.id_number,
            self.phone,
            self.resident_id,
        )


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    integrity_scoring: bool
    notice_channels: list[Channel] = Field(default_factory=_email_only, max_length=3)


class HouseholdIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    community_id: str = Field(min_length=1, max_length=64)
    grid_id: str = Field(min_length=1, max_length=64)
    address: str = Field(min_length=1, max_length=500)
    members: list[MemberIn] = Field(min_length=1, max_length=50)
    contact_email: EmailStr
    compound_id: str | None = Field(default=None, min_length=1, max_length=64)
    building_id: str | None = Field(default=None, min_length=1, max_length=64)
    contact_phone: str | None = None
    preferred_channels: list[Channel] = Field(default_factory=_email_only, max_length=3)
    consent: ConsentIn | None = Field(
        default=None, description="Recorded with the caller as who recorded it, and now"
    )
    allow_duplicate: bool = Field(
        default=False,
        description="Register even though an active household has a member's ID number or "
        "the same address (after a 409 possible-duplicate answer was checked)",
    )


class Versioned(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(
        ge=1, le=2_147_483_647, description="The version this change was made against"
    )


class MoveIn(Versioned):
    grid_id: str = Field(min_length=1, max_length=64)
    address: str = Field(min_length=1, max_length=500)
    compound_id: str | None = Field(default=None, min_length=1, max_length=64)
    building_id: str | None = Field(default=None, min_length=1, max_length=64)


class MembersIn(Versioned):
    members: list[MemberIn] = Field(min_length=1, max_length=50)
    allow_duplicate: bool = False


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr | None = None
    phone: str | None = None
    preferred_channels: list[Channel] = Field(default_factory=_email_only, max_length=3)


class HouseholdContactIn(Versioned):
    email: EmailStr
    phone: str | None = None
    preferred_channels: list[Channel] = Field(default_factory=_email_only, max_length=3)


class ConsentChangeIn(Versioned):
    integrity_scoring: bool
    notice_channels: list[Channel] = Field(max_length=3)


class DeregisterIn(Versioned):
    reason: str = Field(min_length=1, max_length=500, examples=["moved out of the community"])


def _masked(value: str | None, mask: Any, reveal: bool) -> str | None:
    if value is None:
        return None
    return value if reveal else str(mask(value))


class MemberOut(BaseModel):
    resident_id: uuid.UUID = Field(
        description="Stable id of the resident across member changes and moves"
    )
    name: str
    relation: str
    birth_date: date | None = Field(
        default=None,
        description="Only when revealed: it is part of the ID number (characters 7-14)",
    )
    id_number: str | None = Field(
        default=None, description="Masked (first and last character) unless revealed"
    )
    phone: str | None = Field(default=None, description="Masked (138****5678) unless revealed")

    @classmethod
    def of(cls, member: Member, reveal: bool) -> MemberOut:
        if member.resident_id is None:
            raise ValueError("a stored member has its resident id")
        return cls(
            resident_id=member.resident_id,
            name=member.name,
            relation=member.relation,
            birth_date=member.birth_date if reveal else None,
            id_number=_masked(member.id_number, mask_id_number, reveal),
            phone=_masked(member.phone, mask_phone, reveal),
        )


class ConsentOut(BaseModel):
    integrity_scoring: bool
    notice_channels: list[str]
    recorded_by: str | None = None
    recorded_at: datetime | None = None


class HouseholdOut(BaseModel):
    id: uuid.UUID
    community_id: str
    grid_id: str
    address: str
    members: list[MemberOut]
    contact_email: str
    registered_at: datetime
    version: int
    status: str
    compound_id: str | None = None
    building_id: str | None = None
    contact_phone: str | None = None
    preferred_channels: list[str]
    consent: ConsentOut
    deregistered_at: datetime | None = None
    deregistration_reason: str | None = None

    @classmethod
    def of(cls, household: Household, reveal: bool = False) -> HouseholdOut:
        consent = household.consent
        return cls(
            id=household.id,
            community_id=household.community_id,
            grid_id=household.grid_id,
            address=household.address,
            members=[MemberOut.of(m, reveal) for m in household.members],
            contact_email=household.contact_email,
            registered_at=household.registered_at,
            version=household.version,
            status=household.status.value,
            compound_id=household.compound_id,
            building_id=household.building_id,
            contact_phone=_masked(household.contact_phone, mask_phone, reveal),
            preferred_channels=list(household.preferred_channels),
            consent=ConsentOut(
                integrity_scoring=consent.integrity_scoring,
                notice_channels=list(consent.notice_channels),
                recorded_by=consent.recorded_by,
                recorded_at=consent.recorded_at,
            ),
            deregistered_at=household.deregistered_at,
            deregistration_reason=household.deregistration_reason,
        )


HouseholdPage = Page[HouseholdOut]


class HistoryOut(BaseModel):
    version: int
    change: str
    changed_at: datetime
    changed_by: str
    summary: dict[str, Any]

    @classmethod
    def of(cls, entry: HistoryEntry) -> HistoryOut:
        return cls(
            version=entry.version,
            change=entry.change,
            changed_at=entry.changed_at,
            changed_by=entry.changed_by,
            summary=entry.summary,
        )


HistoryPage = Page[HistoryOut]


class DataCopyOut(BaseModel):
    """What the registry holds about a resident, for the resident."""

    resident_id: uuid.UUID
    you: MemberOut = Field(
        description="The resident's own member record, unmasked (ID number, birth date, phone)"
    )
    household: HouseholdOut = Field(
        description="The household they are a member of (the other members' data masked)"
    )
    history: list[HistoryOut] = Field(description="Every version of the household, oldest first")

    @classmethod
    def of(cls, copy: DataCopy) -> DataCopyOut:
        return cls(
            resident_id=copy.resident_id,
            you=MemberOut.of(copy.member, reveal=True),
            household=HouseholdOut.of(copy.household, reveal=False),
            history=[HistoryOut.of(entry) for entry in copy.history],
        )


class DuplicateOut(BaseModel):
    household_id: uuid.UUID
    reasons: list[str]


# --- places ---------------------------------------------------------------------------------


class CommunityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Id
    name: str = Field(min_length=1, max_length=200)
    time_zone: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="IANA time zone, e.g. Asia/Shanghai (default: the registry's setting)",
    )


class CommunityChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    time_zone: str = Field(min_length=1, max_length=64, description="IANA time zone")


class CommunityOut(BaseModel):
    id: str
    name: str
    time_zone: str

    @classmethod
    def of(cls, community: Community) -> CommunityOut:
        return cls(id=community.id, name=community.name, time_zone=community.time_zone)


class GridIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Id
    community_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    worker_id: str | None = Field(default=None, max_length=200, description="The grid worker")
    worker_name: str | None = Field(default=None, max_length=200)


class GridWorkerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker_id: str = Field(min_length=1, max_length=200)
    worker_name: str | None = Field(default=None, max_length=200)


class GridOut(BaseModel):
    id: str
    community_id: str
    name: str
    worker_id: str | None = None
    worker_name: str | None = None

    @classmethod
    def of(cls, grid: Grid) -> GridOut:
        return cls(
            id=grid.id,
            community_id=grid.community_id,
            name=grid.name,
            worker_id=grid.worker_id,
            worker_name=grid.worker_name,
        )


class CompoundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Id
    community_id: str = Field(min_length=1, max_length=64)
    grid_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    address: str = Field(min_length=1, max_length=500)


class BuildingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Id
    compound_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)


class BuildingOut(BaseModel):
    id: str
    compound_id: str
    name: str

    @classmethod
    def of(cls, building: Building) -> BuildingOut:
        return cls(id=building.id, compound_id=building.compound_id, name=building.name)


class CompoundOut(BaseModel):
    id: str
    community_id: str
    grid_id: str
    name: str
    address: str
    property_manager_id: uuid.UUID | None = None
    buildings: list[BuildingOut] | None = None

    @classmethod
    def of(cls, compound: Compound, buildings: list[Building] | None = None) -> CompoundOut:
        return cls(
            id=compound.id,
            community_id=compound.community_id,
            grid_id=compound.grid_id,
            name=compound.name,
            address=compound.address,
            property_manager_id=compound.property_manager_id,
            buildings=[BuildingOut.of(b) for b in buildings] if buildings is not None else None,
        )


CommunityPage = Page[CommunityOut]


GridPage = Page[GridOut]


CompoundPage = Page[CompoundOut]


# --- organisations --------------------------------------------------------------------------


class OrganisationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: OrganisationKind
    name: str = Field(min_length=1, max_length=200)
    community_id: str = Field(min_length=1, max_length=64)
    grid_id: str | None = Field(default=None, min_length=1, max_length=64)
    compound_ids: list[str] = Field(
        default_factory=list, max_length=200, description="Compounds a property manager manages"
    )
    frontage_segments: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="Named street segments a shop or unit keeps (frontage duty)",
    )
    contact: ContactIn


class OrganisationChangeIn(Versioned):
    name: str = Field(min_length=1, max_length=200)
    grid_id: str | None = Field(default=None, min_length=1, max_length=64)
    compound_ids: list[str] = Field(default_factory=list, max_length=200)
    frontage_segments: list[str] = Field(default_factory=list, max_length=200)
    contact: ContactIn


class ContactOut(BaseModel):
    email: str | None = None
    phone: str | None = None
    preferred_channels: list[str]


class OrganisationOut(BaseModel):
    id: uuid.UUID
    kind: OrganisationKind
    name: str
    community_id: str
    grid_id: str | None = None
    compound_ids: list[str]
    frontage_segments: list[str]
    contact: ContactOut
    registered_at: datetime
    version: int

    @classmethod
    def of(cls, organisation: Organisation, reveal: bool = False) -> OrganisationOut:
        return cls(
            id=organisation.id,
            kind=organisation.kind,
            name=organisation.name,
            community_id=organisation.community_id,
            grid_id=organisation.grid_id,
            compound_ids=list(organisation.compound_ids),
            frontage_segments=list(organisation.frontage_segments),
            contact=ContactOut(
                email=organisation.contact.email,
                phone=_masked(organisation.contact.phone, mask_phone, reveal),
                preferred_channels=list(organisation.contact.preferred_channels),
            ),
            registered_at=organisation.registered_at,
            version=organisation.version,
        )


OrganisationPage = Page[OrganisationOut]


class ErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resident_id: uuid.UUID | None = Field(
        default=None,
        description="The resident to erase; omitted: the whole household and all its members",
    )
    reason: str = Field(
        min_length=2,
        max_length=500,
        description="Why (the resident's request and its reference, a retention rule)",
        examples=["resident's request of 2026-12-01 (PIPL Art. 47), ref. 2026-118"],
    )


class ErasureOut(BaseModel):
    id: uuid.UUID
    household_id: uuid.UUID
    resident_id: uuid.UUID | None
    status: Literal["in_progress", "completed"]
    reason: str
    requested_by: str
    requested_at: datetime
    completed_at: datetime | None
    removed: dict[str, dict[str, int]] = Field(
        description="What each service removed so far, by category: rows or values"
    )
    waiting_for: list[str] = Field(description="The services that have not answered yet")

    @classmethod
    def of(cls, erasure: Erasure) -> ErasureOut:
        return cls(
            id=erasure.id,
            household_id=erasure.household_id,
            resident_id=erasure.resident_id,
            status="completed" if erasure.completed_at is not None else "in_progress",
            reason=erasure.reason,
            requested_by=erasure.requested_by,
            requested_at=erasure.requested_at,
            completed_at=erasure.completed_at,
            removed={s: dict(c) for s, c in erasure.removed.items()},
            waiting_for=list(erasure.waiting_for),
        )


class AccessRequestIn(BaseModel):
    """Whose data: the resident's id, or their exact ID number (one of the two)."""

    model_config = ConfigDict(extra="forbid")

    resident_id: uuid.UUID | None = Field(default=None, description="The resident")
    id_number: str | None = Field(
        default=None,
        min_length=18,
        max_length=18,
        description="Or the resident's exact 18-character ID number (found by its blind index)",
    )
    reason: str = Field(
        min_length=2,
        max_length=500,
        description="Why (the resident's request and its reference)",
        examples=["resident's request of 2026-12-01 (PIPL Art. 45), ref. 2026-121"],
    )


class AccessRequestOut(BaseModel):
    id: uuid.UUID
    household_id: uuid.UUID
    resident_id: uuid.UUID
    status: Literal["in_progress", "completed"]
    reason: str
    requested_by: str
    requested_at: datetime
    completed_at: datetime | None
    answered: dict[str, int] = Field(
        description="How many records each service has answered with so far"
    )
    waiting_for: list[str] = Field(description="The services that have not answered yet")

    @classmethod
    def of(cls, request: AccessRequest) -> AccessRequestOut:
        return cls(
            id=request.id,
            household_id=request.household_id,
            resident_id=request.resident_id,
            status="completed" if request.completed_at is not None else "in_progress",
            reason=request.reason,
            requested_by=request.requested_by,
            requested_at=request.requested_at,
            completed_at=request.completed_at,
            answered=dict(request.answered),
            waiting_for=list(request.waiting_for),
        )


class AccessRecordOut(BaseModel):
    service: str
    category: str
    what: dict[str, Any] = Field(description="The values, as the service holds them")
    purpose: str = Field(description="Why the service holds them (zh-CN)")
    retention: str = Field(description="How long it keeps them (zh-CN)")


class AccessExportOut(BaseModel):
    """What every service holds about the resident, record by record."""

    request: AccessRequestOut
    records: list[AccessRecordOut]
    erased: list[str] = Field(
        description="Services whose records an erasure of the resident or household removed"
    )

    @classmethod
    def of(cls, export: Export) -> AccessExportOut:
        return cls(
            request=AccessRequestOut.of(export.request),
            records=[
                AccessRecordOut(service=service, **record)
                for service, records in export.records.items()
                for record in records or []
            ],
            erased=[service for service, records in export.records.items() if records is None],
        )


class SubjectKeyOut(BaseModel):
    """A subject's key, for notify to open what is sealed under it (docs/privacy.md)."""

    subject_id: uuid.UUID
    kind: SubjectKind
    key: str = Field(
        description="The Fernet key (URL-safe base64) the subject's data is sealed under"
    )
    created_at: datetime

    @classmethod
    def of(cls, key: SubjectKey) -> SubjectKeyOut:
        if key.key is None:
            raise ValueError(f"the key of {key.subject_id} was destroyed")
        return cls(subject_id=key.subject_id, kind=key.kind, key=key.key, created_at=key.created_at)


class DestroyedSubjectKeyOut(BaseModel):
    """A subject whose key was destroyed (erased): what was sealed under it cannot be opened."""

    subject_id: uuid.UUID
    kind: SubjectKind
    destroyed_at: datetime


class SubjectKeysOut(BaseModel):
    """The keys of the subjects asked for, each subject in exactly one of the three lists."""

    keys: list[SubjectKeyOut]
    destroyed: list[DestroyedSubjectKeyOut] = Field(
        description="Subjects whose key was destroyed (the single read's 410)"
    )
    unknown: list[uuid.UUID] = Field(
        description="Subjects the registry holds no key for (the single read's 404)"
    )

    @classmethod
    def of(cls, found: Mapping[uuid.UUID, SubjectKey | None]) -> SubjectKeysOut:
        keys: list[SubjectKeyOut] = []
        destroyed: list[DestroyedSubjectKeyOut] = []
        unknown: list[uuid.UUID] = []
        for subject_id, key in found.items():
            if key is None:
                unknown.append(subject_id)
            elif key.destroyed_at is not None:
                destroyed.append(
                    DestroyedSubjectKeyOut(
                        subject_id=subject_id, kind=key.kind, destroyed_at=key.destroyed_at
                    )
                )
            else:
                keys.append(SubjectKeyOut.of(key))
        return cls(keys=keys, destroyed=destroyed, unknown=unknown)
