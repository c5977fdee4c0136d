"""One question, one trace: W3C trace context crosses all four services, and each exports
its spans over OTLP/HTTP to the collector named by `OTEL_EXPORTER_OTLP_ENDPOINT` (here a
receiver in the test that keeps what it is sent in memory)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fault.conftest import StackFactory
from tests.fault.gateway_user import GatewayUser
from tests.support.servers import serve

pytestmark = pytest.mark.fault

SERVICES = ("gateway", "chat", "retrieval", "store")


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    trace_id: str
    span_id: str
    parent_id: str
    name: str


class Collector:
    """An OTLP/HTTP trace receiver (`POST /v1/traces`, protobuf) keeping spans in memory."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self._arrived = threading.Condition()
        self.app = Starlette(routes=[Route("/v1/traces", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        export = ExportTraceServiceRequest.FromString(await request.body())
        for resource_spans in export.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received = ReceivedSpan(
                        service=attributes.get("service.name", ""),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        name=span.name,
                    )
                    with self._arrived:
                        self.spans.append(received)
                        self._arrived.notify_all()
        body = ExportTraceServiceResponse().SerializeToString()
        return Response(body, media_type="application/x-protobuf")

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self._arrived:
            return [span for span in self.spans if span.trace_id == trace_id]

    def wait_for_services(self, trace_id: str, services: set[str], timeout_s: float) -> None:
        """Block until spans of `trace_id` have come from each of `services`."""
        with self._arrived:
            arrived = self._arrived.wait_for(
                lambda: services <= {s.service for s in self.spans if s.trace_id == trace_id},
                timeout_s,
            )
        assert arrived, f"spans of {trace_id} came only from {self.trace(trace_id)}"


@pytest.fixture(scope="module")
def collector() -> Iterator[tuple[Collector, str]]:
    receiver = Collector()
    with serve(receiver.app) as url:
        yield receiver, url


async def test_one_question_is_one_trace_across_the_four_services(
    start_stack: StackFactory, collector: tuple[Collector, str]
) -> None:
    receiver, url = collector
    # Export each batch at once: the test waits for the spans, not for a timer.
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_BSP_SCHEDULE_DELAY": "50"}
    with start_stack(extra_env=dict.fromkeys(SERVICES, otel)) as stack:
        async with GatewayUser(stack.gateway) as user:
            response = await user.http.post(
                "/assistant/chatkit", json={"query": "How do I bring my own book?"}
            )
        assert response.status_code == 200 and "assistant_message" in response.text
        # W3C `traceresponse`: version-trace id-span id-flags
        _, trace_id, _, _ = response.headers["traceresponse"].split("-")

        await asyncio.to_thread(receiver.wait_for_services, trace_id, set(SERVICES), 30)
    spans = receiver.trace(trace_id)
    by_id = {span.span_id: span for span in spans}
    roots = [span for span in spans if span.parent_id not in by_id]
    assert [root.service for root in roots] == ["gateway"], roots
    # Every other service's server span hangs under a client span of its caller.
    for service in ("chat", "retrieval", "store"):
        entered = [
            span
            for span in spans
            if span.service == service and by_id.get(span.parent_id, span).service != service
        ]
        assert entered, f"no span of {service} continues its caller's span"
