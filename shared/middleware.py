"""Pure ASGI middleware (no `BaseHTTPMiddleware`: it breaks streaming and disconnects)."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import time
from collections.abc import Mapping

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import ApiError, error_response
from shared.logs import REQUEST_ID_HEADER, new_request_id, set_request_id
from shared.metrics import HTTP_LATENCY, HTTP_REQUESTS
from shared.settings import is_loopback

logger = logging.getLogger("shared.requests")

SERVICE_TOKEN_HEADER = "x-service-token"
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})


class RequestContextMiddleware:
    """Binds a request id (taken from `X-Request-ID` or new), echoes it, records metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = Headers(scope=scope).get(REQUEST_ID_HEADER) or new_request_id()
        set_request_id(request_id[:128])
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id[:128]
                route = _route_template(scope)
                HTTP_LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = _route_template(scope)
            HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            if route not in ("/healthz", "/readyz", "/metrics"):
                logger.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={"fields": {"status": status, "ms": _ms_since(started)}},
                )


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


class InternalTokenMiddleware:
    """Rejects calls without the shared service token (401) when one is configured.

    Without one, only calls that reached a loopback address are served: a server started
    by other means than `build_app` knows (`uvicorn --host 0.0.0.0`) still takes no
    X-User-ID from another machine.
    """

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        if self.token is None:
            if _off_loopback(scope):
                logger.warning(
                    "refused a call to %s: INTERNAL_TOKEN is not set, so only calls on loopback"
                    " are served",
                    scope["server"][0],
                )
                await error_response(401, "Missing or invalid service token.")(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        presented = Headers(scope=scope).get(SERVICE_TOKEN_HEADER, "").encode()
        if not hmac.compare_digest(presented, self.token):
            response = error_response(401, "Missing or invalid service token.")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _off_loopback(scope: Scope) -> bool:
    """Whether the call reached this server on an IP address other than loopback (a Unix
    socket, or a test transport's host name, is not an IP address)."""
    server = scope.get("server")
    if not server:
        return False
    try:
        ipaddress.ip_address(server[0])
    except ValueError:
        return False
    return not is_loopback(server[0])


class ResponseHeadersMiddleware:
    """Adds `headers` to every HTTP answer that does not set them itself."""

    def __init__(self, app: ASGIApp, headers: Mapping[str, str]) -> None:
        self.app = app
        self.headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in self.headers if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body is larger than {limit} bytes.")


class BodyLimitMiddleware:
    """Refuses bodies over the limit: by Content-Length up front, else while reading.

    `overrides` maps path patterns (regular expressions, matched from the start)
    to their own limits, for routes that take files.
    """

    def __init__(
        self, app: ASGIApp, limit: int, overrides: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.overrides = [(re.compile(p), n) for p, n in (overrides or {}).items()]

    def limit_for(self, path: str) -> int:
        for pattern, limit in self.overrides:
            if pattern.match(path):
                return limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > limit:
                await error_response(413, f"Request body is larger than {limit} bytes.")(
                    scope, receive, send
                )
                return
            # The server reads no more than a declared length: nothing left to count (and
            # a long stream's disconnect watcher waits on one frame less).
            await self.app(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)
