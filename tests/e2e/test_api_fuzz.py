"""Schemathesis against every service's OpenAPI, over real processes and a real database.

Whatever a client sends — generated from the schema, valid or not — no service answers with a
server error, and every answer matches the status codes, content types and schemas it declares.
"""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import bearer
from tests.support.platform import SERVICES, Platform

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 12


def test_no_input_makes_any_service_fail_or_break_its_contract(platform: Platform) -> None:
    headers = bearer("admin")
    tested = []
    for service in SERVICES:
        base_url = platform.url(service)
        raw = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
        schema = schemathesis.openapi.from_dict(raw)
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), f"{service}: its OpenAPI document is invalid: {result}"
            operation = result.ok()
            tested.append(f"{service} {operation.label}")

            _fuzz(operation, base_url, headers)
    assert len(tested) >= 12, tested


def _fuzz(operation: Any, base_url: str, headers: dict[str, str]) -> None:
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def call(case: Case[Any]) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

    call()
