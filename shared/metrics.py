"""Prometheus metrics shared by every service, served on `/metrics`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Lifespan

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests handled, by route template and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to the response start, by route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text exposition of this process's metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def with_metrics_listener(
    lifespan: Lifespan[Starlette] | None, host: str, port: int
) -> Lifespan[Starlette]:
    """`lifespan` (and the state it yields), plus a listener serving `/metrics` on
    `host:port` while the app runs."""

    @asynccontextmanager
    async def wrapped(app: Starlette) -> AsyncIterator[Mapping[str, Any]]:
        server, thread = start_http_server(port, addr=host)
        try:
            if lifespan is None:
                yield {}
            else:
                async with lifespan(app) as state:
                    yield state or {}
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)

    return wrapped
