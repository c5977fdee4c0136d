"""Service-to-service HTTP: every internal call and the gateway's relay go through here.

`ServiceHttp` is one provider service seen from a caller, on aiohttp (chosen against
httpx2 and pyreqwest by `bench/client_bench.py`; the table is in the README). It stamps
the service token, the request id and the W3C trace context (a client span) on every
call, and holds
the limits an upstream that misbehaves must not get past: response headers (aiohttp's
parser: lines of 8 KiB, 128 headers), response bodies (`max_body_bytes`), the wait for
a pooled connection (`connect_timeout_s`), silence within an answer (`timeout_s`), and
a connection is never reused once it misbehaved (`_StrictConnector`).

Failures are one hierarchy: `UpstreamError`, with `UpstreamUnavailable` (unreachable,
broke off or garbled; `UpstreamTimeout`; `UpstreamFailed`, a 5xx: all worth a retry) and
`UpstreamRefused` (a 4xx: a bug or bad data). `UPSTREAM_ERRORS` is their part of an
app's error table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from opentelemetry import propagate, trace

from shared.errors import DomainError, ErrorTable
from shared.logs import REQUEST_ID_HEADER, current_request_id, new_request_id
from shared.middleware import SERVICE_TOKEN_HEADER
from shared.tracing import tracing_enabled

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
KEEPALIVE_S = 15.0
"""Shorter than the services' own keep-alive (uvicorn --timeout-keep-alive=20), so a
caller never reuses a connection the server is closing."""

_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_tracer = trace.get_tracer(__name__)


class UpstreamError(DomainError):
    """A call to another service failed. `str()` is the detail for the logs; `message`
    is what a caller of ours may be told."""

    public = "The {service} service is unavailable; retry shortly."

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(self.public.format(service=service))
        self.args = (detail,)
        self.service = service


class UpstreamUnavailable(UpstreamError):
    """The service could not be reached, or broke off or garbled its answer: worth a retry."""


class UpstreamTimeout(UpstreamUnavailable, TimeoutError):
    """No connection within the connect timeout, or the answer went silent for longer
    than the read timeout."""

    public = "The {service} service did not answer in time."


class UpstreamFailed(UpstreamUnavailable):
    """The service answered with a 5xx: worth a retry."""

    public = "The {service} service failed to answer."


class UpstreamRefused(UpstreamError):
    """The service refused the call: a 4xx the caller did not expect (a bug or bad data)."""

    public = "The {service} service refused the request."

    def __init__(self, service: str, status: int, message: str) -> None:
        super().__init__(service, f"{service} service answered {status}: {message}")
        self.status = status


class NotASegment(ValueError):
    """An id that cannot be one path segment ("", "." or "..": the URL would name another
    route). No record has such an id."""


def segment(value: str) -> str:
    """`value` quoted as one URL path segment; `NotASegment` if it cannot be one."""
    if value in ("", ".", ".."):
        raise NotASegment(f"No record has the id {value!r}.")
    return quote(value, safe="")


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole answer of `ServiceHttp.request`."""

    status: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=CIMultiDict)
    """Case-insensitive."""

    def header(self, name: str, default: str = "") -> str:
        """The first value of header `name`, else `default`."""
        return self.headers.get(name, default)

    def json(self) -> Any:
        return json.loads(self.content)

    def error_message(self) -> str:
        """The error envelope's message, else the start of the body."""
        try:
            return str(self.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            return self.content[:200].decode("utf-8", "replace")


class Streamed:
    """An answer whose body is read as it comes (`ServiceHttp.stream`)."""

    __slots__ = ("_response", "_service")

    def __init__(self, service: str, response: aiohttp.ClientResponse) -> None:
        self._service = service
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return self._response.headers

    async def read_chunk(self) -> bytes:
        """Whatever has arrived (waiting for something), `b""` once the body ended.
        Cancelling a pending read loses nothing: the data waits for the next one."""
        try:
            return await self._response.content.readany()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _upstream_error(self._service, exc) from exc

    async def read_all(self, limit: int) -> bytes:
        """The rest of the body; more than `limit` bytes is an `UpstreamUnavailable`."""
        declared = self._response.content_length
        if declared is not None:
            if declared > limit:
                raise _too_large(self._service, limit)
            try:  # framed by its length: aiohttp reads exactly that much
                return await self._response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise _upstream_error(self._service, exc) from exc
        parts: list[bytes] = []
        size = 0
        while chunk := await self.read_chunk():
            size += len(chunk)
            if size > limit:
                raise _too_large(self._service, limit)
            parts.append(chunk)
        return b"".join(parts)


class ServiceHttp:
    """Calls to one provider service. Open in a lifespan, share, close on exit."""

    def __init__(
        self,
        base_url: str,
        *,
        service: str,
        token: str | None,
        timeout_s: float = 10.0,
        connect_timeout_s: float | None = None,
        max_connections: int = 200,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        """`timeout_s` is the longest silence within a call (not a cap on the whole call);
        getting a connection (from the pool or a new one) may take `connect_timeout_s`,
        by default the same. `service` names the provider in errors and logs."""
        self.base_url = base_url
        self.service = service
        self.max_body_bytes = max_body_bytes
        self._headers = {SERVICE_TOKEN_HEADER: token} if token else {}
        connect = connect_timeout_s or timeout_s
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect, sock_connect=connect, sock_read=timeout_s
        )
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop (aiohttp binds a session to it).
        if self._session is None:
            self._session = aiohttp.ClientSession(
                base_url=self.base_url,
                connector=_StrictConnector(
                    limit=self._max_connections, keepalive_timeout=KEEPALIVE_S
                ),
                timeout=self._timeout,
                headers=self._headers,
                auto_decompress=False,  # the services send plain bodies; relay bytes as they are
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        expect: Collection[int] = (),
    ) -> Answer:
        """`method path?params` with `body` (sent as JSON unless `headers` name another
        content type). Returns 2xx answers and those whose status is in `expect`; raises
        `UpstreamUnavailable` for 5xx and `UpstreamRefused` for any other status."""
        async with self.stream(method, path, body=body, params=params, headers=headers) as got:
            content = await got.read_all(self.max_body_bytes)
            answer = Answer(got.status, content, got.headers)
        if 200 <= answer.status < 300 or answer.status in expect:
            return answer
        if answer.status >= 500:
            raise UpstreamFailed(
                self.service,
                f"{self.service} service answered {answer.status}: {answer.error_message()}",
            )
        raise UpstreamRefused(self.service, answer.status, answer.error_message())

    def stream(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AbstractAsyncContextManager[Streamed]:
        """As `request`, but yields once the headers are in, whatever the status: the
        caller reads the body. The connection goes back to the pool only when the body
        was read to its end; otherwise it is closed."""
        if _CONTROL.search(path):
            raise ValueError(f"request target {path!r} holds a space or control character")
        sent = {REQUEST_ID_HEADER: current_request_id() or new_request_id()}
        if body is not None:
            sent["content-type"] = "application/json"
        if headers:
            sent.update(headers)
        return _Call(self, method, path, body, params, sent)

    async def status(self, path: str = "/healthz") -> int:
        """The status `GET path` answers with (for readiness checks)."""
        async with self.stream("GET", path) as got:
            await got.read_all(self.max_body_bytes)
            return got.status

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> ServiceHttp:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _Call:
    """One `ServiceHttp.stream` call. A class rather than an `asynccontextmanager`: the
    gateway holds one per open stream, and a generator's frame would keep the request's
    body and headers (and itself) for as long as the answer streams."""

    __slots__ = ("_body", "_headers", "_http", "_method", "_params", "_path", "_response", "_span")

    def __init__(
        self,
        http: ServiceHttp,
        method: str,
        path: str,
        body: bytes | None,
        params: Mapping[str, str | int] | None,
        headers: dict[str, str],
    ) -> None:
        self._http, self._method, self._path = http, method, path
        self._body, self._params, self._headers = body, params, headers
        self._response: aiohttp.ClientResponse | None = None
        self._span: trace.Span = trace.INVALID_SPAN

    async def __aenter__(self) -> Streamed:
        # A client span, passed on as W3C trace context. Done here rather than by
        # opentelemetry-instrumentation-aiohttp-client: that doubled the client's CPU per call.
        service, method = self._http.service, self._method
        if tracing_enabled():
            self._span = _tracer.start_span(
                method,
                kind=trace.SpanKind.CLIENT,
                attributes={"http.request.method": method, "peer.service": service},
            )
            propagate.inject(self._headers, context=trace.set_span_in_context(self._span))
        try:
            self._response = await self._http._open().request(
                method,
                self._path.lstrip("/"),
                data=self._body,
                params=self._params,
                headers=self._headers,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = _upstream_error(service, exc)
            self._end(error)
            raise error from exc
        except BaseException as exc:
            self._end(exc)
            raise
        finally:
            self._body = self._params = None  # sent: an open stream does not hold them
            self._headers = {}
        self._span.set_attribute("http.response.status_code", self._response.status)
        return Streamed(service, self._response)

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        assert self._response is not None
        self._response.release()  # closes the connection unless the body was read to its end
        self._end(exc)

    def _end(self, exc: BaseException | None) -> None:
        if exc is not None:
            self._span.record_exception(exc)
            self._span.set_status(trace.StatusCode.ERROR)
        self._span.end()


class _StrictConnector(aiohttp.TCPConnector):
    """aiohttp's pool, except that a connection on which anything arrived while it sat
    idle is closed instead of reused: aiohttp 3.14 would hand that unsolicited answer to
    the next request (aio-libs/aiohttp#13656). `tests/unit/shared/test_http.py` fails
    if a new aiohttp changes the private `_get` this overrides."""

    async def _get(self, key: Any, traces: Any) -> aiohttp.connector.Connection | None:
        while (connection := await super()._get(key, traces)) is not None:
            protocol = connection.protocol
            if protocol is not None and not protocol.should_close:
                return connection
            connection.close()
        return None


UPSTREAM_ERRORS: ErrorTable = {
    UpstreamError: 502,
    UpstreamUnavailable: 503,
    UpstreamTimeout: 504,
    UpstreamFailed: 502,
    UpstreamRefused: 502,
}
"""HTTP statuses for calls to other services that failed, for an app's error table."""


def _upstream_error(service: str, exc: BaseException) -> UpstreamError:
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(service, f"{service} service did not answer in time: {exc!r}")
    if isinstance(exc, aiohttp.ClientResponseError):  # a response aiohttp could not parse
        return UpstreamUnavailable(service, f"{service} service garbled its answer: {exc}")
    return UpstreamUnavailable(service, f"{service} service unreachable: {exc!r}")


def _too_large(service: str, limit: int) -> UpstreamUnavailable:
    return UpstreamUnavailable(service, f"{service} service answered more than {limit} bytes")
