"""Retention: the credit's own categories of its retention policy (`policies/retention/`).

The ledger is not one: entries are immutable and count for the scoring policy's periods. What
goes is the trail of green-channel checks, as the audit trail does.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from linli_credit.adapters import tables
from linli_shared.db import Database
from linli_shared.retention import Sweep, delete_in_batches

SHIPPED_POLICIES = Path(__file__).resolve().parent.parent / "policies" / "retention"

GREEN_CHANNEL_CHECKS = "green_channel_checks"


class RetentionUseCases:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def forget_green_channel_checks(self, before: datetime, batch_size: int) -> int:
        """Delete the checks made before `before`."""
        checks = tables.green_channel_checks
        return await delete_in_batches(
            self._database, checks, ["id"], checks.c.checked_at < before, batch_size
        )

    def sweeps(self) -> dict[str, Sweep]:
        return {GREEN_CHANNEL_CHECKS: self.forget_green_channel_checks}
