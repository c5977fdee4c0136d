"""HTTP clients for service-to-service calls: request id and service token on every call."""

from __future__ import annotations

import httpx
from httpx_aiohttp import AiohttpTransport

from shared.logs import REQUEST_ID_HEADER, current_request_id, new_request_id
from shared.middleware import SERVICE_TOKEN_HEADER


def service_client(
    base_url: str,
    *,
    token: str | None,
    timeout: httpx.Timeout | float = 10.0,
    max_connections: int = 200,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An `AsyncClient` for one provider service. Open in a lifespan, share, close on exit.

    The transport is aiohttp's behind the httpx API: measured here, httpx's own
    connection pool costs several times more per request under concurrency
    (`make bench`, store rows).
    """

    async def stamp(request: httpx.Request) -> None:
        request.headers[REQUEST_ID_HEADER] = current_request_id() or new_request_id()

    headers = {SERVICE_TOKEN_HEADER: token} if token else {}
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=timeout,
        event_hooks={"request": [stamp]},
        transport=transport or AiohttpTransport(limits=limits),
    )
