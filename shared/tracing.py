"""OpenTelemetry tracing, on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

Then incoming requests get a server span (`opentelemetry-instrumentation-asgi`, continuing
a `traceparent` the caller sent), every internal call a client span that passes the W3C
trace context on (`shared.http.ServiceHttp`), spans go out over OTLP/HTTP (the exporter
reads the standard `OTEL_EXPORTER_OTLP_*` settings), log lines carry the trace id
(`shared.logs`) and answers a `traceresponse` header. When it is not set nothing is
installed: measured, the ASGI instrumentation alone costs about 390 Python calls per
request even with no tracer behind it, several times what a small internal call costs.
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

_enabled: bool | None = None


def configure_tracing(service: str) -> bool:
    """Install this process's tracer provider when `OTEL_EXPORTER_OTLP_ENDPOINT` is set;
    whether tracing is on. Decided once per process (the first service of a process
    names it; only tests run several in one process)."""
    global _enabled
    if _enabled is not None:
        return _enabled
    _enabled = bool(os.environ.get(ENDPOINT_ENV))
    if _enabled:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        name = os.environ.get("OTEL_SERVICE_NAME", service)
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        # Answers name their trace (`traceresponse`), so a caller can find it.
        set_global_response_propagator(TraceResponsePropagator())
    return _enabled


def tracing_enabled() -> bool:
    """Whether `configure_tracing` turned tracing on in this process."""
    return bool(_enabled)
