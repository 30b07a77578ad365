"""Without an exporter spans are not recorded, yet trace ids are made and travel on."""

from __future__ import annotations

import pytest
from opentelemetry import propagate, trace

from linli_shared.telemetry import tracer_provider


def test_without_an_exporter_spans_are_not_recorded_but_ids_propagate() -> None:
    provider = tracer_provider("linli-test", {})
    tracer = provider.get_tracer("test")
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    parent = propagate.extract({"traceparent": incoming})
    with tracer.start_as_current_span("request", context=parent) as span:
        assert not span.is_recording(), "nothing would read it: no attributes, no processors"
        assert span.get_span_context().trace_id == int("0af7651916cd43dd8448eb211c80319c", 16)
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
    assert carrier["traceparent"].split("-")[1] == "0af7651916cd43dd8448eb211c80319c"

    with tracer.start_as_current_span("a new trace") as root:
        assert root.get_span_context().is_valid, "a trace id is made for the events it emits"


def test_with_an_exporter_configured_spans_are_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens there: the exporter gives up flushing at shutdown after a second, not ten.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9/v1/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")
    provider = tracer_provider(
        "linli-test", {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9/v1/traces"}
    )
    try:
        with provider.get_tracer("test").start_as_current_span("request") as span:
            assert span.is_recording()
    finally:
        provider.shutdown()
