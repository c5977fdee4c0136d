"""HTTP clients for service-to-service calls: request id and service token on every call."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from httpx_aiohttp import AiohttpTransport

from shared.http1 import Http1Pool, Http1Response
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


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole answer of `ServiceHttp.request`."""

    status: int
    content: bytes
    headers: Sequence[tuple[bytes, bytes]] = ()  # names in lower case

    def header(self, name: str, default: str = "") -> str:
        """The first value of header `name` (lower case), else `default`."""
        key = name.encode("latin-1")
        return next((v.decode("latin-1") for k, v in self.headers if k == key), default)

    def json(self) -> Any:
        return json.loads(self.content)

    def error_message(self) -> str:
        """The error envelope's message, else the start of the body."""
        try:
            return str(self.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            return self.content[:200].decode("utf-8", "replace")


class ServiceHttp:
    """Calls to one provider service on `shared.http1`: the service token and the request
    id on every call, whole answers back. Every service-to-service call uses it: httpx's
    per-call cost (about 0.4 ms with aiohttp's transport) shows on calls of about 1 ms.
    `service_client` remains for the ingestion CLI's long uploads.

    Transport failures and timeouts (no data for `timeout_s`) raise `UpstreamError`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        timeout_s: float = 10.0,
        connect_timeout_s: float | None = None,
        max_connections: int = 200,
    ) -> None:
        """`timeout_s` is the longest silence within a call (not a cap on the whole
        call); connecting may take `connect_timeout_s`, by default the same."""
        self.base_url = base_url
        self.headers = {SERVICE_TOKEN_HEADER: token} if token else {}
        self.pool = Http1Pool(
            base_url,
            max_connections=max_connections,
            connect_timeout_s=connect_timeout_s or timeout_s,
            read_timeout_s=timeout_s,
            # The services' own keep-alive is 20 s (uvicorn --timeout-keep-alive=20).
            keepalive_s=15.0,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """`method path?params` with `body` (sent as JSON when given)."""
        response = await self.stream(method, path, body=body, params=params, headers=headers)
        try:
            content = await response.read_all()
            response.release()
        finally:
            response.close()  # a no-op after release(); else the connection is dropped
        return Answer(response.status, content, response.headers)

    async def stream(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Http1Response:
        """As `request`, but returns once the headers are in: the caller reads the body
        and ends the response (`release()` or `close()`)."""
        if params:
            path = f"{path}?{urlencode(params)}"
        sent = {**self.headers, REQUEST_ID_HEADER: current_request_id() or new_request_id()}
        if body is not None:
            sent["content-type"] = "application/json"
        if headers:
            sent.update(headers)
        return await self.pool.request(method, path, body=body or b"", headers=sent)

    async def aclose(self) -> None:
        await self.pool.close()

    async def __aenter__(self) -> ServiceHttp:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
