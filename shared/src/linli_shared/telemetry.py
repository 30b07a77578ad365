"""OpenTelemetry: one trace from the HTTP request through Kafka to the handlers.

Trace context travels as the CloudEvents `traceparent` extension (W3C trace context). Export is
configured by the standard OTEL_* variables; without an exporter, spans are not recorded (the
ALWAYS_OFF sampler) but still carry trace and span ids, so the context propagates.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import Span, SpanKind

log = logging.getLogger(__name__)
_configured = False
_tracer: tuple[trace.TracerProvider, trace.Tracer] | None = None


def configure_tracing(service_name: str) -> None:
    """Install the SDK tracer provider once per process; export by OTLP when configured.

    The exporter reads the standard variables (OTEL_EXPORTER_OTLP_ENDPOINT or
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, …).
    """
    global _configured
    if _configured:
        return
    provider = tracer_provider(service_name, os.environ)
    trace.set_tracer_provider(provider)
    _configured = True


def tracer_provider(service_name: str, environ: Mapping[str, str]) -> TracerProvider:
    resource = Resource.create({"service.name": service_name})
    if environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        return provider
    # Nothing would read a recorded span: recording (attributes, events, the span processor
    # chain) was ~10 % of a hot read's CPU. Ids are still made and propagated.
    return TracerProvider(resource=resource, sampler=ALWAYS_OFF)


def shutdown_tracing() -> None:
    """Flush spans still buffered (on a graceful stop)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def traceparent_of(span: Span) -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")


def start_child_span(name: str, traceparent: str | None, kind: SpanKind) -> Span:
    """A span that the caller ends, continuing the trace named by a W3C traceparent."""
    parent = propagate.extract({"traceparent": traceparent}) if traceparent else None
    return tracer().start_span(name, context=parent, kind=kind)


def tracer() -> trace.Tracer:
    """The platform's tracer, made once per installed provider (get_tracer builds a new
    Tracer and instrumentation scope on every call: ~3 % of a hot read's CPU)."""
    global _tracer
    provider = trace.get_tracer_provider()
    if _tracer is None or _tracer[0] is not provider:
        _tracer = (provider, provider.get_tracer("linli"))
    return _tracer[1]


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def span_from_traceparent(name: str, traceparent: str | None, kind: SpanKind) -> Iterator[Span]:
    """A span continuing the trace a W3C traceparent names; without one, the current trace."""
    parent = propagate.extract({"traceparent": traceparent}) if traceparent else None
    with tracer().start_as_current_span(name, context=parent, kind=kind) as span:
        yield span
