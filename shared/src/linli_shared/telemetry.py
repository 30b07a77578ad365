"""OpenTelemetry: one trace from the HTTP request through Kafka to the handlers.

Trace context travels as the CloudEvents `traceparent` extension (W3C trace context). Export is
configured by the standard OTEL_* variables; without an exporter, spans are still created so the
context propagates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind

log = logging.getLogger(__name__)
_configured = False


def configure_tracing(service_name: str) -> None:
    """Install the SDK tracer provider once per process."""
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    trace.set_tracer_provider(provider)
    _configured = True


def tracer() -> trace.Tracer:
    return trace.get_tracer("linli")


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def span_from_traceparent(name: str, traceparent: str | None, kind: SpanKind) -> Iterator[Span]:
    """A span that continues the trace named by a W3C traceparent (or starts one)."""
    parent = propagate.extract({"traceparent": traceparent} if traceparent else {})
    with tracer().start_as_current_span(name, context=parent, kind=kind) as span:
        yield span
