"""The retention an access request's export states for each record (docs/privacy.md, "Access
and copy") is the period of the retention policy in force: a new policy version that changes a
period must change what the export tells the resident."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from linli.services import SERVICES
from linli_credit.api import access as credit
from linli_inspections.api import access as inspections
from linli_notify.api import access as notify
from linli_registry.api import access as registry

STATED: dict[str, Mapping[str, int]] = {
    "registry": registry.PERIODS,
    "inspections": inspections.PERIODS,
    "credit": credit.PERIODS,
    "notify": notify.PERIODS,
}


@pytest.mark.parametrize("service", sorted(STATED))
def test_the_export_states_the_periods_of_the_policy_in_force(service: str) -> None:
    policy = SERVICES[service].create_retention().policy()
    for category, days in STATED[service].items():
        assert policy.period(category).days == days, (service, category)
