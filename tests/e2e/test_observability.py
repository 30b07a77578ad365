"""One trace per story over real processes, and the metrics operators scrape.

The services export spans by OTLP/HTTP to a receiver in this test; the HTTP request that records
an inspection, the outbox relay's publish, the Kafka hop, the credit handler and the notice
delivery must all land in one trace.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import bearer
from tests.support.otlp import OtlpReceiver, ReceivedSpan
from tests.support.platform import Platform
from tests.support.polling import eventually

ADMIN = bearer("admin")


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def platform_env(platform_env: dict[str, str], otlp: OtlpReceiver) -> dict[str, str]:
    return {
        **platform_env,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": otlp.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }


async def test_one_trace_from_request_to_notice_and_metrics_for_each_hop(
    platform: Platform, http: httpx.AsyncClient, otlp: OtlpReceiver
) -> None:
    household = await http.post(
        f"{platform.url('registry')}/v1/households",
        headers=ADMIN,
        json={
            "community_id": "c1",
            "grid_id": "g1",
            "address": "和平路 1 号",
            "members": [{"name": "王芳", "relation": "head"}],
            "contact_email": f"wang.{uuid.uuid4().hex[:6]}@example.cn",
        },
    )
    assert household.status_code == 201
    household_id = household.json()["id"]
    await eventually(
        lambda: _account_open(http, platform, household_id), "credit to open the account"
    )
    inspection_id = str(uuid.uuid4())
    trace_id = uuid.uuid4().hex

    async def record() -> httpx.Response | None:
        # Until inspections has the registry's event, the household is unknown there (422 on
        # subject_id); the client id makes the resend safe, and every resend continues the
        # client's one trace.
        response = await http.post(
            f"{platform.url('inspections')}/v1/inspections",
            headers={**ADMIN, "traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"},
            json={
                "id": inspection_id,
                "subject_id": household_id,
                "checklist": "sanitation",
                "findings": [{"item": "bins emptied daily", "passed": False, "severity": "light"}],
            },
        )
        return None if response.status_code == 422 else response

    recorded = await eventually(record, "inspections to know the household")
    assert recorded.status_code == 201

    request_spans = await eventually(
        lambda: _found(otlp.find("linli-inspections", "POST /v1/inspections")),
        "the inspections API's request span",
    )
    assert len({span.trace_id for span in request_spans}) == 1, request_spans
    request_span = request_spans[0]
    expected = {
        ("linli-inspections-worker", "publish linli.inspections.inspection.failed.v1"),
        ("linli-credit-worker", "linli-credit linli.inspections.inspection.failed.v1"),
        ("linli-credit-worker", "publish linli.credit.score.changed.v1"),
        ("linli-notify-worker", "linli-notify linli.inspections.inspection.failed.v1"),
        ("linli-notify-worker", "linli-notify linli.credit.score.changed.v1"),
        ("linli-notify-worker", "deliver rectification"),
        ("linli-notify-worker", "deliver score_change"),
    }

    async def whole_trace() -> list[ReceivedSpan] | None:
        spans = otlp.trace(request_span.trace_id)
        return spans if expected <= {(s.service, s.name) for s in spans} else None

    spans = await eventually(whole_trace, "every hop of the story in the request's trace")
    by_id = {span.span_id: span for span in spans}
    credit_handler = next(s for s in spans if s.name.startswith("linli-credit "))
    assert by_id[credit_handler.parent_span_id].name.startswith("publish "), (
        "the Kafka hop: the handler continues the relay's span from the record's header"
    )

    api_metrics = (await http.get(f"{platform.url('inspections')}/metrics")).text
    assert 'route="/v1/inspections"' in api_metrics
    assert 'status="201"' in api_metrics
    credit_metrics = (
        await http.get(f"http://127.0.0.1:{platform.metrics_ports['credit']}/metrics")
    ).text
    assert (
        'linli_events_consumed_total{group="linli-credit",outcome="applied",'
        'topic="linli.inspections.v1"}' in credit_metrics
    )

    # Lag and backlog come from the API, which measures them from the broker and its database.
    async def credit_lag_measured() -> str | None:
        text = (await http.get(f"{platform.url('credit')}/metrics")).text
        return text if 'linli_consumer_lag{group="linli-credit"' in text else None

    # The API measures on a timer: wait for its next round rather than assume it has run.
    credit_api_metrics = await eventually(credit_lag_measured, "the credit API to measure lag")
    assert 'linli_outbox_backlog{service="credit"}' in credit_api_metrics
    inspections_metrics = (
        await http.get(f"http://127.0.0.1:{platform.metrics_ports['inspections']}/metrics")
    ).text
    assert 'linli_events_published_total{service="inspections"}' in inspections_metrics


async def _account_open(http: httpx.AsyncClient, platform: Platform, subject: str) -> bool:
    response = await http.get(
        f"{platform.url('credit')}/v1/subjects/{subject}/score", headers=ADMIN
    )
    return response.status_code == 200


async def _found(spans: list[ReceivedSpan]) -> list[ReceivedSpan] | None:
    return spans or None
