"""an erasure may blank the notes in an entry's cause; nothing else of an entry ever changes

Revision ID: e7a3b1c9d2f5
Revises: a0d17de7a113
Create Date: 2026-12-02 14:30:00.000000
"""
from collections.abc import Sequence

from alembic import op


revision: str = 'e7a3b1c9d2f5'
down_revision: str | None = 'a0d17de7a113'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every column of `entries` but `cause`, which an erasure may change (docs/privacy.md).
FIXED = (
    "id, subject_id, points, reason_code, policy_version, source_event_id, severity, "
    "occurred_at, recorded_at, rule, counts_until, refers_to, inspection_id"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # PostgreSQL: only inside a transaction that said it erases (SET LOCAL linli.erasure),
        # and only the cause.
        op.execute(
            """
            CREATE OR REPLACE FUNCTION linli_entries_are_immutable() RETURNS trigger AS $$
            BEGIN
              IF TG_OP = 'UPDATE'
                 AND current_setting('linli.erasure', true) = 'on'
                 AND (to_jsonb(NEW) - 'cause') = (to_jsonb(OLD) - 'cause') THEN
                RETURN NEW;
              END IF;
              RAISE EXCEPTION 'ledger entries are immutable: add a reversing entry instead';
            END;
            $$ LANGUAGE plpgsql
            """
        )
    else:
        # SQLite (the embedded mode, one local user): an update that sets any column but the
        # cause is refused.
        op.execute("DROP TRIGGER entries_no_update")
        op.execute(
            f"""
            CREATE TRIGGER entries_no_update BEFORE UPDATE OF {FIXED} ON entries
            BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION linli_entries_are_immutable() RETURNS trigger AS $$
            BEGIN
              RAISE EXCEPTION 'ledger entries are immutable: add a reversing entry instead';
            END;
            $$ LANGUAGE plpgsql
            """
        )
    else:
        op.execute("DROP TRIGGER entries_no_update")
        op.execute(
            """
            CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
            BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END
            """
        )
