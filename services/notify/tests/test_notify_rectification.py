"""The rectification notice is driven by one event, `inspection.failed`: one notice per failed
inspection, whatever the order and redelivery of it and `rectification.requested`.

Inspections emits both in one transaction (keyed alike, so in order on one partition); release
1.0.0 emitted only `inspection.failed`. Notify makes the notice from `inspection.failed` alone and
does not consume `rectification.requested`. Events go through notify's real subscription, the
record processor and its inbox, as a worker applies them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest

from linli_notify.adapters import tables
from linli_notify.adapters.templates import TemplateRenderer
from linli_notify.consumers import subscriptions
from linli_notify.domain.notice import NoticeType, Recipient
from linli_notify.service import UseCases
from linli_shared.context import EventContext
from linli_shared.contracts import CATALOGUE, InspectionFailed, RectificationRequested
from linli_shared.contracts.base import EventData
from linli_shared.contracts.common import SubjectKind
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.inbox import Inbox
from linli_shared.messaging.processing import Outcome, RecordProcessor, RetryPolicy
from linli_shared.messaging.records import IncomingRecord, OutgoingRecord
from services.notify.tests.notify_support import (
    EMAIL,
    FIRST_PAGE,
    NOW,
    drain,
    failed,
    household,
)
from tests.support.smtp import SmtpSink


class _DeadLetters:
    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []

    async def send(self, records: Sequence[OutgoingRecord]) -> None:
        self.records.extend(records)


class Worker:
    """Notify's consumer as the worker runs it: records through the processor and its inbox."""

    def __init__(self, use_cases: UseCases, database: Database) -> None:
        [subscription] = subscriptions(use_cases)
        self.dead_letters = _DeadLetters()
        self._processor = RecordProcessor(
            subscription,
            database,
            Inbox(tables.inbox),
            CATALOGUE,
            self.dead_letters,
            RetryPolicy(max_attempts=1, initial_backoff=0.01, max_backoff=0.01),
            asyncio.Event(),
        )
        self._offset = 0

    def record(self, envelope: Envelope) -> IncomingRecord:
        self._offset += 1
        return IncomingRecord(
            "linli.inspections.v1",
            0,
            self._offset,
            envelope.partition_key.encode(),
            envelope.to_json(),
        )

    async def process(self, *envelopes: Envelope) -> list[Outcome]:
        return [await self._processor.process(self.record(e)) for e in envelopes]

    async def process_batch(self, *envelopes: Envelope) -> list[Outcome]:
        return await self._processor.process_batch([self.record(e) for e in envelopes])


def envelope(event: EventData) -> Envelope:
    return Envelope.wrap(
        event,
        source="/linli/inspections",
        context=EventContext(correlation_id="corr-inspection"),
        now=NOW,
    )


def requested(failure: InspectionFailed) -> RectificationRequested:
    """The case the same inspections transaction opens for the failed inspection."""
    return RectificationRequested(
        rectification_id=uuid.uuid4(),
        inspection_id=failure.inspection_id,
        subject_id=failure.subject_id,
        subject_kind=SubjectKind.HOUSEHOLD,
        severity=failure.severity,
        comply_by=failure.comply_by,
        failed_findings=failure.failed_findings,
        grid_id=failure.grid_id,
    )


async def told_once(notify: UseCases, smtp: SmtpSink, subject: uuid.UUID) -> None:
    notices = (await notify.reads.notices_for(subject, FIRST_PAGE)).items
    assert [n.notice_type for n in notices] == [NoticeType.RECTIFICATION]
    await drain(notify)
    assert [m.subject for m in smtp.mails_to(EMAIL)] == ["【邻里】整改通知"]


# F: inspection.failed, R: rectification.requested; F2: inspection.failed re-published under a
# new event id (an outbox relayed again after a crash); a letter twice is a redelivery.
ORDERS = {
    "failed-then-requested": "F R",
    "requested-then-failed": "R F",
    "each-redelivered": "F R F R",
    "requested-redelivered-first": "R R F F",
    "failed-republished": "F F2 R F2",
    "an-older-producer-emits-only-failed": "F F",
}


@pytest.mark.parametrize("order", ORDERS.values(), ids=ORDERS.keys())
async def test_one_notice_per_failed_inspection_whatever_the_order_and_redelivery(
    notify: UseCases, database: Database, smtp: SmtpSink, order: str
) -> None:
    worker = Worker(notify, database)
    subject = uuid.uuid4()
    await worker.process(envelope(household(subject)))
    failure = failed(subject)
    sent = {"F": envelope(failure), "R": envelope(requested(failure)), "F2": envelope(failure)}

    outcomes = await worker.process(*(sent[letter] for letter in order.split()))

    assert Outcome.DEAD_LETTERED not in outcomes
    assert worker.dead_letters.records == []
    await told_once(notify, smtp, subject)


async def test_a_case_announced_after_the_notice_went_out_sends_nothing_more(
    notify: UseCases, database: Database, smtp: SmtpSink
) -> None:
    worker = Worker(notify, database)
    subject = uuid.uuid4()
    await worker.process(envelope(household(subject)))
    failure = failed(subject)
    await worker.process(envelope(failure))
    await drain(notify)

    assert await worker.process(envelope(requested(failure))) == [Outcome.IGNORED]
    assert await worker.process(envelope(failure)) == [Outcome.APPLIED]  # re-published: no news
    await told_once(notify, smtp, subject)


async def test_both_events_in_one_batch_make_one_notice(
    notify: UseCases, database: Database, smtp: SmtpSink
) -> None:
    worker = Worker(notify, database)
    subject = uuid.uuid4()
    failure = failed(subject)
    outcomes = await worker.process_batch(
        envelope(household(subject)), envelope(failure), envelope(requested(failure))
    )
    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED, Outcome.IGNORED]
    await told_once(notify, smtp, subject)


async def test_another_failed_inspection_is_another_notice(
    notify: UseCases, database: Database
) -> None:
    worker = Worker(notify, database)
    subject = uuid.uuid4()
    await worker.process(envelope(household(subject)))
    first, second = failed(subject), failed(subject)
    await worker.process(envelope(first), envelope(requested(first)), envelope(second))
    notices = (await notify.reads.notices_for(subject, FIRST_PAGE)).items
    assert sorted(str(n.variables["inspection_id"]) for n in notices) == sorted(
        [str(first.inspection_id), str(second.inspection_id)]
    )


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_a_notice_stored_from_a_case_before_this_release_still_renders(locale: str) -> None:
    """Notices made from `rectification.requested` by earlier notify releases carry no checklist
    or inspection date; one still pending after the upgrade is sent with the general wording."""
    variables: dict[str, object] = {
        "inspection_id": str(uuid.uuid4()),
        "rectification_id": str(uuid.uuid4()),
        "checklist": None,
        "inspected_at": None,
        "comply_by": NOW.isoformat(),
        "severity": "general",
        "findings": [{"item": "stairwells clear", "severity": "general", "note": "楼道堆物"}],
    }
    recipient = Recipient(id=uuid.uuid4(), name="张三", email=EMAIL, locale=locale)
    rendered = TemplateRenderer("Asia/Shanghai").render(
        NoticeType.RECTIFICATION, recipient, variables, locale
    )
    assert "stairwells clear" in rendered.body
    assert "None" not in rendered.body
