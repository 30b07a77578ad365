"""Entries from inspections: a failed inspection's penalty, a rectification's refund or late
penalty. The consumer calls these with the typed event and its id (the entry's source)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_credit.adapters.repository import LedgerRepository
from linli_credit.domain.ledger import (
    Account,
    Entry,
    failed_inspection_entry,
    rectification_entry,
)
from linli_credit.service.scoring import Scoring
from linli_shared.contracts.base import EventData
from linli_shared.contracts.inspections import (
    InspectionFailed,
    RectificationOverdue,
    RectificationVerified,
)
from linli_shared.db import Database
from linli_shared.messaging.envelope import MalformedEvent
from linli_shared.messaging.processing import UnknownSubject

log = logging.getLogger(__name__)


@contextlib.contextmanager
def dates_in_range(event: EventData) -> Iterator[None]:
    """An entry's validity and caps are computed from the event's dates; dates near year 1 or
    9999 (schema-valid) leave the calendar: such an event is malformed, not a handler fault."""
    try:
        yield
    except OverflowError as error:
        raise MalformedEvent(
            f"{event.event_type}: dates beyond what the ledger computes with ({error})"
        ) from error


@dataclass(frozen=True)
class PostingUseCases:
    _database: Database
    _scoring: Scoring

    async def record_failed_inspection(
        self, event: InspectionFailed, source_event_id: str
    ) -> Entry | None:
        """One entry per failed inspection; None when already made or the subject is not scored."""
        with dates_in_range(event):
            async with self._database.transaction() as connection:
                return await self._record_failed_inspection(connection, event, source_event_id)

    async def record_rectification(
        self, event: RectificationVerified | RectificationOverdue, source_event_id: str
    ) -> Entry | None:
        """On time: part of the penalty back; late or overdue: a further penalty, once."""
        with dates_in_range(event):
            async with self._database.transaction() as connection:
                return await self._record_rectification(connection, event, source_event_id)

    # --- internals -----------------------------------------------------------------------------

    async def _record_failed_inspection(
        self, connection: AsyncConnection, event: InspectionFailed, source_event_id: str
    ) -> Entry | None:
        account = await self._unposted_account(connection, event, source_event_id)
        if account is None or self._scoring.refused(account, source_event_id):
            return None
        ledger = LedgerRepository(connection)
        policy = self._scoring.policies.at(event.inspected_at)
        entry = failed_inspection_entry(
            account,
            severity=event.severity,
            source_event_id=source_event_id,
            occurred_at=event.inspected_at,
            policy=policy,
            now=self._scoring.clock.now(),
            inspection_id=event.inspection_id,
            cause={
                "inspection_id": str(event.inspection_id),
                "checklist": event.checklist,
                "target_kind": event.target_kind,
                "target_id": event.target_id,
                "failed_findings": [f.model_dump(mode="json") for f in event.failed_findings],
                "comply_by": event.comply_by.isoformat(),
            },
            cap_totals=await ledger.cap_totals(
                account.subject_id, policy, "inspection.failed", event.inspected_at
            ),
        )
        await self._scoring.post(connection, account, entry)
        return entry

    async def _record_rectification(
        self,
        connection: AsyncConnection,
        event: RectificationVerified | RectificationOverdue,
        source_event_id: str,
    ) -> Entry | None:
        account = await self._unposted_account(connection, event, source_event_id)
        if account is None or self._scoring.refused(account, source_event_id):
            return None
        ledger = LedgerRepository(connection)
        original = await ledger.penalty_for_inspection(account.subject_id, event.inspection_id)
        if original is None:
            log.info("no penalty for inspection %s; nothing to settle", event.inspection_id)
            return None
        if isinstance(event, RectificationVerified):
            on_time, occurred_at, what = event.on_time, event.verified_at, "verified"
        else:
            on_time, occurred_at, what = False, event.overdue_since, "overdue"
        policy = self._scoring.policies.at(occurred_at)
        entry = rectification_entry(
            original,
            await ledger.entries_of(account.subject_id),
            on_time=on_time,
            source_event_id=source_event_id,
            occurred_at=occurred_at,
            policy=policy,
            now=self._scoring.clock.now(),
            cause={
                "rectification_id": str(event.rectification_id),
                "inspection_id": str(event.inspection_id),
                "outcome": what,
                "on_time": on_time,
                "comply_by": event.comply_by.isoformat(),
            },
            cap_totals=await ledger.cap_totals(
                account.subject_id, policy, "rectification.late", occurred_at
            ),
        )
        if entry is None:
            return None
        await self._scoring.post(connection, account, entry)
        return entry

    async def _unposted_account(
        self,
        connection: AsyncConnection,
        event: InspectionFailed | RectificationVerified | RectificationOverdue,
        source_event_id: str,
    ) -> Account | None:
        """The account of the event's subject, locked; None when the event has made its entry
        already (a redelivery writes nothing). The registry must have announced the subject:
        credit opens no account for a subject the registry never had (`UnknownSubject`: the
        consumer waits a bounded time for the registration, then dead-letters the event)."""
        account, posted = await LedgerRepository(connection).account_for_event(
            event.subject_id, source_event_id
        )
        if posted:
            return None
        if account is None:
            raise UnknownSubject(event.subject_id, event.subject_kind.value)
        return await self._scoring.placed(connection, account, community_id=event.community_id)
