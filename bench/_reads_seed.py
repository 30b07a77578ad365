"""Bulk data for the read benches, loaded by the database itself (INSERT … generate_series).

Subjects and households get deterministic ids (md5 of a name, as a uuid) so the bench can name
the ones it reads without asking the database. Every subject has ENTRIES_PER_SUBJECT entries
that net to zero, so its projection (balance 0) is what a rebuild computes: nothing changes.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

import asyncpg

from linli_credit.domain.policy import load_policy_book
from linli_credit.settings import CreditSettings

ENTRIES_PER_SUBJECT = 10
HOUSEHOLDS_PER_GRID = 100
HOUSEHOLDS_PER_COMMUNITY = 5_000
MEMBERS_PER_HOUSEHOLD = 2


def subject_id(index: int) -> uuid.UUID:
    return uuid.UUID(hashlib.md5(f"bench-subject-{index}".encode()).hexdigest())


def household_id(index: int) -> uuid.UUID:
    return uuid.UUID(hashlib.md5(f"bench-household-{index}".encode()).hexdigest())


async def add_ledger(connection: asyncpg.Connection, first_entry: int, end_entry: int) -> None:
    """Entries [first_entry, end_entry) and the accounts of their subjects (whole subjects)."""
    policy = load_policy_book(CreditSettings().policy_dir).at(datetime.now(UTC))
    score = policy.score(0)
    first, end = first_entry // ENTRIES_PER_SUBJECT, end_entry // ENTRIES_PER_SUBJECT
    await connection.execute(
        """
        INSERT INTO accounts (subject_id, subject_kind, score, grade, opened_at, balance,
                              policy_version, community_id, consent, green_channel)
        SELECT md5('bench-subject-' || i)::uuid, 'household', $3, $4,
               timestamptz '2026-01-01 00:00+00', 0, $5, 'c' || (i / 500), 'granted', false
        FROM generate_series($1::bigint, $2::bigint - 1) AS i
        """,
        first,
        end,
        score,
        policy.grade(score),
        policy.version,
    )
    # Pairs of +4 (volunteer service) and -4 (a light failed inspection): each subject nets 0.
    await connection.execute(
        """
        INSERT INTO entries (id, subject_id, points, reason_code, policy_version,
                             source_event_id, severity, occurred_at, recorded_at, rule, cause)
        SELECT md5('bench-entry-' || n)::uuid,
               md5('bench-subject-' || (n / $3))::uuid,
               CASE WHEN n % 2 = 0 THEN 4 ELSE -4 END,
               CASE WHEN n % 2 = 0 THEN 'volunteer.service' ELSE 'inspection.failed' END,
               $4, 'bench:' || n,
               CASE WHEN n % 2 = 0 THEN NULL ELSE 'light' END,
               timestamptz '2026-01-02 00:00+00' + (n % 1000) * interval '1 minute',
               timestamptz '2026-01-02 00:00+00' + (n % 1000) * interval '1 minute',
               'bench', '{"bench": true}'::json
        FROM generate_series($1::bigint, $2::bigint - 1) AS n
        """,
        first * ENTRIES_PER_SUBJECT,
        end * ENTRIES_PER_SUBJECT,
        ENTRIES_PER_SUBJECT,
        policy.version,
    )
    await connection.execute("ANALYZE accounts; ANALYZE entries")


async def add_households(connection: asyncpg.Connection, first: int, end: int) -> None:
    """Households [first, end): HOUSEHOLDS_PER_GRID to a grid, two members each, no phones."""
    await connection.execute(
        """
        INSERT INTO households (id, community_id, grid_id, address, address_key, contact_email,
                                registered_at, version, preferred_channels,
                                consent_integrity_scoring, consent_channels, status)
        SELECT md5('bench-household-' || i)::uuid,
               'c' || (i / $3), 'g' || (i / $4),
               'No. ' || i || ' Bench Road', 'no.' || i || 'benchroad',
               'h' || i || '@example.org',
               timestamptz '2026-01-01 00:00+00' + i * interval '1 second', 1,
               '["email"]'::json, true, '["email"]'::json, 'active'
        FROM generate_series($1::bigint, $2::bigint - 1) AS i
        """,
        first,
        end,
        HOUSEHOLDS_PER_COMMUNITY,
        HOUSEHOLDS_PER_GRID,
    )
    await connection.execute(
        """
        INSERT INTO members (household_id, position, name, relation, id_tail, resident_id)
        SELECT md5('bench-household-' || i)::uuid, p,
               CASE WHEN p = 0 THEN 'Li ' ELSE 'Wang ' END || (i % 1000),
               CASE WHEN p = 0 THEN 'head' ELSE 'spouse' END,
               lpad(((i * 7 + p) % 10000)::text, 4, '0'),
               md5('bench-resident-' || i || '-' || p)::uuid
        FROM generate_series($1::bigint, $2::bigint - 1) AS i,
             generate_series(0, $3 - 1) AS p
        """,
        first,
        end,
        MEMBERS_PER_HOUSEHOLD,
    )
    await connection.execute("ANALYZE households; ANALYZE members")
