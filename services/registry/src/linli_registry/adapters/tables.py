from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.sql.expression import false

from linli_shared.audit import audit_table
from linli_shared.db import UtcDateTime
from linli_shared.messaging.inbox import inbox_table
from linli_shared.messaging.outbox import outbox_table

metadata = MetaData()

communities = Table(
    "communities",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("time_zone", String(64), nullable=False),
)

grids = Table(
    "grids",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("community_id", String(64), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("worker_id", String(200), nullable=True),
    Column("worker_name", String(200), nullable=True),
)

compounds = Table(
    "compounds",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("community_id", String(64), nullable=False, index=True),
    Column("grid_id", String(64), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("address", String(500), nullable=False),
    Column("property_manager_id", Uuid, nullable=True, index=True),
)

buildings = Table(
    "buildings",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("compound_id", String(64), ForeignKey("compounds.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
)

households = Table(
    "households",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("community_id", String(64), nullable=False, index=True),
    Column("grid_id", String(64), nullable=False, index=True),
    Column("address", String(500), nullable=False),
    Column("contact_email", String(320), nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Column("compound_id", String(64), nullable=True, index=True),
    Column("building_id", String(64), nullable=True),
    Column("address_key", String(500), nullable=False, server_default=""),
    Column("contact_phone_enc", Text, nullable=True),
    Column("preferred_channels", JSON, nullable=False, server_default='["email"]'),
    Column("consent_integrity_scoring", Boolean, nullable=False, server_default=false()),
    Column("consent_channels", JSON, nullable=False, server_default='["email"]'),
    Column("consent_recorded_by", String(200), nullable=True),
    Column("consent_recorded_at", UtcDateTime, nullable=True),
    Column("status", String(20), nullable=False, server_default="active"),
    Column("deregistered_at", UtcDateTime, nullable=True),
    Column("deregistration_reason", String(500), nullable=True),
    Index("ix_households_community_address_key", "community_id", "address_key"),
    Index(
        "ix_households_address_key_trgm",
        "address_key",
        postgresql_using="gin",
        postgresql_ops={"address_key": "gin_trgm_ops"},
    ),
)

members = Table(
    "members",
    metadata,
    Column("household_id", Uuid, ForeignKey("households.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("relation", String(50), nullable=False),
    Column("birth_date", Date, nullable=True),
    # Personal data: encrypted (Fernet); `id_number_index` is a keyed hash for duplicate lookups,
    # `id_tail` the last four characters for tail search.
    Column("id_number_enc", Text, nullable=True),
    Column("id_number_index", String(64), nullable=True, index=True),
    Column("id_tail", String(4), nullable=True, index=True),
    Column("phone_enc", Text, nullable=True),
    # The resident's stable id (ledger subject in credit); kept across member changes and moves.
    Column("resident_id", Uuid, nullable=False, index=True),
    # Name search is a substring match (LIKE '%…%'): a trigram index keeps it off a full scan
    # of every member in the city (docs/performance.md, "Cost growth").
    Index(
        "ix_members_name_trgm",
        "name",
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    ),
)

household_history = Table(
    "household_history",
    metadata,
    Column("household_id", Uuid, ForeignKey("households.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("change", String(50), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    Column("changed_by", String(200), nullable=False),
    # What changed, without personal data (no ID numbers or phones).
    Column("summary", JSON, nullable=False),
)

organisations = Table(
    "organisations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", String(30), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("community_id", String(64), nullable=False, index=True),
    Column("grid_id", String(64), nullable=True, index=True),
    Column("contact_email", String(320), nullable=True),
    Column("contact_phone_enc", Text, nullable=True),
    Column("preferred_channels", JSON, nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
)

frontage_segments = Table(
    "frontage_segments",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("organisation_id", Uuid, ForeignKey("organisations.id"), nullable=False, index=True),
)

# Erasures of a resident (or, with no resident, a whole household): who asked, why, and what each
# service reported removing; ids only, nothing of what was erased.
erasures = Table(
    "erasures",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("household_id", Uuid, nullable=False, index=True),
    Column("resident_id", Uuid, nullable=True),
    Column("reason", String(500), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("removed", JSON, nullable=False),
    Column("completed_at", UtcDateTime, nullable=True),
)

# Access requests (docs/privacy.md, "Access and copy"): `private_key_enc` opens the services'
# sealed answers (encrypted under LINLI_REGISTRY_ENCRYPTION_KEYS, dropped once every service has
# answered); each service's records are kept opened and encrypted under the same ring, in
# `access_answers`, until the retention policy's `access_requests` period after the request's
# completion deletes both (or an erasure of the resident or the household removes the records).
access_requests = Table(
    "access_requests",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("household_id", Uuid, nullable=False, index=True),
    Column("resident_id", Uuid, nullable=False, index=True),
    Column("reason", String(500), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("private_key_enc", Text, nullable=True),
    Column("completed_at", UtcDateTime, nullable=True),
)

access_answers = Table(
    "access_answers",
    metadata,
    Column(
        "access_request_id",
        Uuid,
        ForeignKey("access_requests.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("service", String(40), primary_key=True),
    Column("record_count", Integer, nullable=False),
    # None once an erasure removed them: the count stays.
    Column("records_enc", Text, nullable=True),
    Column("answered_at", UtcDateTime, nullable=False),
)

# Per-subject keys (crypto-shredding, docs/privacy.md): personal data in events is sealed under
# the key of the household, resident or organisation it is about. `key_enc` is the key encrypted
# under LINLI_REGISTRY_ENCRYPTION_KEYS (rotated with the other columns); destroying a key sets
# it to NULL and keeps only that, and when, it was destroyed.
subject_keys = Table(
    "subject_keys",
    metadata,
    Column("subject_id", Uuid, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("key_enc", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("destroyed_at", UtcDateTime, nullable=True),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
audit = audit_table(metadata)
