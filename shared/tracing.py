"""OpenTelemetry tracing: W3C trace context in and out of every service, spans per request.

Incoming requests get a server span (`opentelemetry-instrumentation-asgi`, continuing a
`traceparent` the caller sent); every internal call gets a client span and passes the
context on (`shared.http.ServiceHttp`, aiohttp's instrumentation). Spans are exported
over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the exporter reads the
standard `OTEL_EXPORTER_OTLP_*` settings), and nowhere when it is not; the trace id is
in every log line either way (`shared.logs`) and in each answer's `traceresponse` header.
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.instrumentation.propagators import (
    TraceResponsePropagator,
    set_global_response_propagator,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
UNTRACED_PATHS = "healthz,readyz,metrics"
"""Probes and scrapes: frequent, and nothing to follow across services."""

_configured = False


def configure_tracing(service: str) -> None:
    """Install this process's tracer provider, once (the first service of a process
    names it; only tests run several in one process)."""
    global _configured
    if _configured:
        return
    _configured = True
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", service)})
    )
    if os.environ.get(ENDPOINT_ENV):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    # Answers name their trace (`traceresponse`), so a caller can find it.
    set_global_response_propagator(TraceResponsePropagator())
