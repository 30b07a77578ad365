from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    true,
)

from linli_shared.audit import audit_table
from linli_shared.db import BigIntegerPK, UtcDateTime
from linli_shared.memberships import household_members_table
from linli_shared.messaging.inbox import inbox_table
from linli_shared.messaging.outbox import outbox_table

metadata = MetaData()

# Local read model of who can be told: households and organisations from the registry's events,
# grid workers from notify's own staff API (`kind` = grid_worker). Notify never calls the
# registry. `grid_id` is where the recipient is (a household's current grid; a grid worker's
# grid, whose recipient id is derived from it): grid workers reach only their grids' recipients.
# `channel_order`, `quiet_*` and `digest` are the recipient's preferences, kept apart
# from the registry's data so a registry update never overwrites them.
recipients = Table(
    "recipients",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=True),
    Column("address", String(500), nullable=True),
    Column("locale", String(20), nullable=False),
    Column("kind", String(20), nullable=False, server_default="household"),
    Column("phone", String(40), nullable=True),
    Column("preferred_channels", JSON, nullable=True),
    Column("consented_channels", JSON, nullable=True),
    Column("active", Boolean, nullable=False, server_default=true()),
    Column("grid_id", String(100), nullable=True, index=True),
    Column("channel_order", JSON, nullable=True),
    Column("quiet_start", String(5), nullable=True),
    Column("quiet_end", String(5), nullable=True),
    Column("digest", Boolean, nullable=False, server_default=false()),
)

# Which household each resident is a member of now, from the registry's members lists (the
# household's `version` of the list applied, so an older list never undoes a newer one): a
# resident signed in for themself reaches their household's notices, inbox and preferences.
household_members = household_members_table(metadata)

notices = Table(
    "notices",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("recipient_id", Uuid, nullable=False, index=True),
    Column("notice_type", String(50), nullable=False),
    Column("source_event_id", String(100), nullable=False),
    Column("correlation_id", String(100), nullable=False),
    Column("traceparent", String(100), nullable=True),
    Column("variables", JSON, nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime, nullable=True),
    # What makes two notices "the same" (e.g. one rectification per inspection, whether it was
    # announced by inspection.failed or rectification.requested).
    Column("dedup_key", String(200), nullable=True),
    Column("critical", Boolean, nullable=False, server_default=false()),
    Column("channel_index", Integer, nullable=False, server_default="0"),
    Column("rounds", Integer, nullable=False, server_default="0"),
    # Held for the recipient's daily digest (set by the dispatcher, not by the handlers).
    Column("digest", Boolean, nullable=False, server_default=false()),
    Column("channel", String(20), nullable=True),
    # What was said, as delivered (proof of content; the in-app inbox shows it).
    Column("subject", String(300), nullable=True),
    Column("body", Text, nullable=True),
    # The in-app inbox: when the recipient (or staff for them) read it.
    Column("read_at", UtcDateTime, nullable=True),
    # The same event never makes the same notice twice for the same person.
    UniqueConstraint("source_event_id", "notice_type", "recipient_id"),
    UniqueConstraint("recipient_id", "notice_type", "dedup_key", name="uq_notices_dedup"),
    Index("ix_notices_due", "status", "next_attempt_at"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigIntegerPK, primary_key=True, autoincrement=True),
    Column("notice_id", Uuid, ForeignKey("notices.id"), nullable=False, index=True),
    Column("channel", String(20), nullable=False),
    Column("address", String(320), nullable=False),
    Column("status", String(20), nullable=False),
    Column("response", Text, nullable=True),
    Column("attempted_at", UtcDateTime, nullable=False),
)

# Partner agencies' webhook endpoints (Standard Webhooks), managed by staff through the API.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("url", String(2000), nullable=False),
    # Newest first; every listed secret signs, so a partner can rotate without a gap.
    Column("secrets", JSON, nullable=False),
    Column("notice_types", JSON, nullable=False),
    Column("department", String(200), nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("consecutive_failures", Integer, nullable=False),
    Column("disabled_reason", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

webhook_messages = Table(
    "webhook_messages",
    metadata,
    Column("id", String(64), primary_key=True),  # the webhook-id header: msg_<hex>
    Column("endpoint_id", Uuid, ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("notice_type", String(50), nullable=False),
    Column("dedup_key", String(200), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime, nullable=True),
    UniqueConstraint("endpoint_id", "notice_type", "dedup_key", name="uq_webhook_messages_dedup"),
    Index("ix_webhook_messages_due", "status", "next_attempt_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigIntegerPK, primary_key=True, autoincrement=True),
    Column("message_id", String(64), ForeignKey("webhook_messages.id"), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response", Text, nullable=True),
    Column("attempted_at", UtcDateTime, nullable=False),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
audit = audit_table(metadata)
