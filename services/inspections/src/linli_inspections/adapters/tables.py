from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
)
from sqlalchemy.sql.expression import true

from linli_shared.audit import audit_table
from linli_shared.db import UtcDateTime
from linli_shared.memberships import household_members_table
from linli_shared.messaging.inbox import inbox_table
from linli_shared.messaging.outbox import outbox_table

metadata = MetaData()

inspections = Table(
    "inspections",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("subject_id", Uuid, nullable=False, index=True),
    Column("subject_kind", String(20), nullable=False),
    Column("checklist", String(100), nullable=False),
    Column("inspector_id", String(200), nullable=False),
    Column("inspected_at", UtcDateTime, nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("severity", String(20), nullable=True),
    Column("comply_by", UtcDateTime, nullable=True),
    Column("target_kind", String(30), nullable=True),
    Column("target_id", String(100), nullable=True),
    Column("grid_id", String(64), nullable=True, index=True),
    Column("community_id", String(64), nullable=True),
    Column("checklist_version", Integer, nullable=True),
    Column("reinspection_of", Uuid, nullable=True, index=True),
    Column("recorded_at", UtcDateTime, nullable=True),
    # The community's time zone the comply-by date was counted in (NULL: 24-hour days).
    Column("time_zone", String(64), nullable=True),
    Index("ix_inspections_target", "target_kind", "target_id", "checklist", "inspected_at"),
)

findings = Table(
    "findings",
    metadata,
    Column("inspection_id", Uuid, ForeignKey("inspections.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("item", String(200), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("severity", String(20), nullable=False),
    Column("note", String(2000), nullable=True),
)

evidence = Table(
    "evidence",
    metadata,
    Column("inspection_id", Uuid, ForeignKey("inspections.id"), primary_key=True),
    Column("finding_position", Integer, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("photo_ref", String(500), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("latitude", Float, nullable=True),
    Column("longitude", Float, nullable=True),
    Column("taken_at", UtcDateTime, nullable=True),
    # Who may see an uploaded photo follows the inspections showing it (by its hash).
    Index("ix_evidence_sha256", "sha256"),
)

# Uploaded photos, content-addressed: the same bytes are stored once, under their SHA-256.
evidence_photos = Table(
    "evidence_photos",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("content_type", String(50), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("bytes", LargeBinary, nullable=False),
    Column("uploaded_by", String(200), nullable=False),
    Column("uploaded_at", UtcDateTime, nullable=False),
)

checklists = Table(
    "checklists",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("title", String(200), nullable=False),
    Column("items", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=True),
)

# Read model of what can be inspected and who answers for it, built from registry events
# (households; compounds → property manager; frontage segments → shop or unit).
targets = Table(
    "targets",
    metadata,
    Column("kind", String(30), primary_key=True),
    Column("id", String(100), primary_key=True),
    Column("subject_id", Uuid, nullable=False, index=True),
    Column("subject_kind", String(20), nullable=False),
    Column("grid_id", String(64), nullable=True),
    Column("community_id", String(64), nullable=True),
    Column("active", Boolean, nullable=False, server_default=true()),
)

# Which household each resident is a member of now, from the registry's members lists (the
# household's `version` of the list applied, so an older list never undoes a newer one): a
# resident signed in for themself reaches their household's inspections and cases.
household_members = household_members_table(metadata)

# Read model of the registry's places, from its events: a community's time zone (weeks and
# deadlines are local), a compound's grid and property manager.
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
    Column("community_id", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("worker_id", String(200), nullable=True),
)

compounds = Table(
    "compounds",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("community_id", String(64), nullable=False),
    Column("grid_id", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("property_manager_id", Uuid, nullable=True),
)

pest_points = Table(
    "pest_points",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("community_id", String(64), nullable=False),
    Column("grid_id", String(64), nullable=True, index=True),
    Column("name", String(200), nullable=False),
    Column("location", String(500), nullable=True),
    Column("compound_id", String(64), nullable=True),
    Column("responsible_id", Uuid, nullable=True),
    Column("responsible_kind", String(20), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

pest_readings = Table(
    "pest_readings",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("point_id", String(100), ForeignKey("pest_points.id"), nullable=False, index=True),
    Column("pest", String(20), nullable=False),
    Column("density", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("measured_at", UtcDateTime, nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("inspection_id", Uuid, nullable=True),
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("target_kind", String(30), nullable=False),
    Column("target_id", String(100), nullable=False),
    Column("checklist", String(100), nullable=False),
    Column("times_per_week", Integer, nullable=False),
    Column("grid_id", String(64), nullable=True, index=True),
    Column("community_id", String(64), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("evaluated_until", UtcDateTime, nullable=True),
)

schedule_weeks = Table(
    "schedule_weeks",
    metadata,
    Column("schedule_id", Uuid, ForeignKey("schedules.id"), primary_key=True),
    Column("week_starting", UtcDateTime, primary_key=True),
    Column("due", Integer, nullable=False),
    Column("done", Integer, nullable=False),
)

rectifications = Table(
    "rectifications",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("inspection_id", Uuid, ForeignKey("inspections.id"), nullable=False, unique=True),
    Column("subject_id", Uuid, nullable=False, index=True),
    Column("subject_kind", String(20), nullable=False),
    Column("checklist", String(100), nullable=False),
    Column("target_kind", String(30), nullable=True),
    Column("target_id", String(100), nullable=True),
    Column("grid_id", String(64), nullable=True, index=True),
    Column("community_id", String(64), nullable=True),
    Column("severity", String(20), nullable=False),
    Column("comply_by", UtcDateTime, nullable=False),
    Column("failed_findings", JSON, nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("ready_at", UtcDateTime, nullable=True),
    Column("overdue_since", UtcDateTime, nullable=True),
    Column("escalation", String(20), nullable=False),
    Column("escalated_at", UtcDateTime, nullable=True),
    Column("verified_at", UtcDateTime, nullable=True),
    Column("reinspection_id", Uuid, nullable=True),
    Column("on_time", Boolean, nullable=True),
    # The pending re-inspection (all null when none is scheduled).
    Column("reinspection_scheduled_for", UtcDateTime, nullable=True),
    Column("reinspection_scheduled_by", String(200), nullable=True),
    Column("reinspection_scheduled_at", UtcDateTime, nullable=True),
    Column("reinspection_inspector_id", String(200), nullable=True),
    Column("reinspection_note", String(500), nullable=True),
    # The fair clock: when the inspection was made, when the responsible party was told, the
    # clock its comply-by runs by and the time zone of its local days (NULL on older cases).
    Column("observed_at", UtcDateTime, nullable=True),
    Column("notified_at", UtcDateTime, nullable=True),
    Column("comply_clock", String(20), nullable=True),
    Column("time_zone", String(64), nullable=True),
)

rectification_timeline = Table(
    "rectification_timeline",
    metadata,
    Column("rectification_id", Uuid, ForeignKey("rectifications.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("detail", JSON, nullable=False),
)

# The photos a responsible party showed with its report of a fix (the timeline keeps each
# report's list): who may see an uploaded photo follows the cases showing it too (by its hash).
rectification_evidence = Table(
    "rectification_evidence",
    metadata,
    Column("rectification_id", Uuid, ForeignKey("rectifications.id"), primary_key=True),
    Column("sha256", String(64), primary_key=True, index=True),
    Column("photo_ref", String(500), nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
audit = audit_table(metadata)
