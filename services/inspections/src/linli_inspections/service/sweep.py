"""The worker's scheduled job: overdue cases are marked and escalated, and the weeks of
schedules that are over are closed. Safe to run on several workers at once (see
`CasesUseCases.attend` and `CoverageUseCases.close_weeks`)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from linli_inspections.service.cases import CasesUseCases
from linli_inspections.service.coverage import CoverageUseCases
from linli_shared.aio import sleep_or_stop
from linli_shared.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepReport:
    overdue: int = 0
    escalated: int = 0
    missed: int = 0


@dataclass(frozen=True)
class SweepUseCases:
    _clock: Clock
    _cases: CasesUseCases
    _coverage: CoverageUseCases

    async def sweep(self, now: datetime | None = None) -> SweepReport:
        """Find overdue rectifications, escalate them, and close the weeks of schedules."""
        now = now or self._clock.now()
        overdue = escalated = 0
        for rectification_id in await self._cases.needing_attention(now):
            became_overdue, escalations = await self._cases.attend(rectification_id, now)
            overdue += became_overdue
            escalated += escalations
        missed = await self._coverage.close_weeks(now)
        return SweepReport(overdue=overdue, escalated=escalated, missed=missed)

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """The worker's background loop: sweep, then wait; never dies of one failed sweep."""
        while not stop.is_set():
            try:
                report = await self.sweep()
                if report.overdue or report.escalated or report.missed:
                    log.info("sweep: %s", report)
            except Exception:
                log.exception("inspection sweep failed; retrying next interval")
            await sleep_or_stop(stop, interval)
