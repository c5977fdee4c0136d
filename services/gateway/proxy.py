"""The streaming proxy: one call to the chat service, relayed to the browser as it arrives.

`UpstreamCall` is an ASGI response. It sends the request upstream while watching
the client: a disconnect at any moment (before the first byte or mid-stream)
cancels the upstream request at once, and the upstream response is closed in
every path. JSON answers are relayed whole; SSE answers chunk by chunk as they
arrive, with a comment heartbeat on quiet streams and a per-send timeout so a
reader that stopped reading cannot pin an agent run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import Receive, Scope, Send

from services.gateway.http1 import Http1Pool, Http1Response, UpstreamError
from shared.contracts.chat import CHATKIT_PATH
from shared.contracts.gateway import HEARTBEAT
from shared.errors import error_response
from shared.logs import REQUEST_ID_HEADER, current_request_id, new_request_id
from shared.middleware import SERVICE_TOKEN_HEADER

logger = logging.getLogger(__name__)

OPEN_STREAMS = Gauge("gateway_open_streams", "SSE streams being relayed now.")
STREAM_ENDS = Counter(
    "gateway_stream_ends_total",
    "Relayed streams by how they ended.",
    ["reason"],  # complete, client_disconnect, stalled_reader, upstream_error
)
HEARTBEATS = Counter("gateway_heartbeats_total", "Heartbeat comments sent on quiet streams.")
UPSTREAM_TTFB = Histogram(
    "gateway_upstream_first_byte_seconds",
    "From sending the request to the chat service to its response headers.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
]

# A ChatKit `error` event, for failures after the 200 has been sent.
UPSTREAM_FAILED_EVENT = (
    b'data: {"type":"error","code":"stream.error","allow_retry":true,'
    b'"message":"The answer was interrupted; please retry."}\n\n'
)


@dataclass(frozen=True)
class StreamTiming:
    """Heartbeat interval and per-send timeout, in seconds."""

    heartbeat_s: float = 15.0
    send_timeout_s: float = 30.0


class ChatUpstream:
    """The chat service's ChatKit endpoint over a pool of keep-alive connections."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        connect_timeout_s: float,
        idle_timeout_s: float,
        max_connections: int,
    ) -> None:
        self.headers = {SERVICE_TOKEN_HEADER: token} if token else {}
        # The read timeout is the longest silence, not a cap on the whole answer:
        # answers stay quiet for a while when the model thinks or tools run.
        # Idle connections are dropped (after 15 s) before the chat service's own
        # keep-alive (uvicorn --timeout-keep-alive=20) closes them: reusing one it is
        # closing fails the request (a 502 to the browser).
        self.pool = Http1Pool(
            base_url,
            max_connections=max_connections,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=idle_timeout_s,
            keepalive_s=15.0,
        )

    def headers_for(self, extra: dict[str, str]) -> dict[str, str]:
        """Headers of one call: service token, request id, then `extra`."""
        return {
            **self.headers,
            REQUEST_ID_HEADER: current_request_id() or new_request_id(),
            **extra,
        }

    async def post(self, body: bytes, headers: dict[str, str]) -> Http1Response:
        """POST a ChatKit request; the caller reads and ends the response."""
        return await self.pool.request("POST", CHATKIT_PATH, body=body, headers=headers)

    async def healthy(self) -> None:
        """Raises unless the chat service answers `/healthz` with 200 within 2 s."""
        async with asyncio.timeout(2):
            response = await self.pool.request("GET", "/healthz")
            try:
                await response.read_all()
            finally:
                response.release()
        if response.status != 200:
            raise RuntimeError(f"chat service /healthz answered {response.status}")

    async def close(self) -> None:
        await self.pool.close()


class _State:
    __slots__ = (
        "at_boundary",
        "disconnected",
        "finished",
        "last_send",
        "send_started",
        "stalled",
        "started",
    )

    def __init__(self) -> None:
        self.started = False  # SSE headers sent
        self.finished = False
        self.disconnected = False
        self.stalled = False
        self.at_boundary = True  # the bytes sent so far end between two events
        self.last_send = time.monotonic()
        self.send_started = 0.0  # when the send in progress began; 0: none


class UpstreamCall:
    """ASGI response relaying one POST to the chat service back to the client."""

    def __init__(
        self,
        upstream: ChatUpstream,
        body: bytes,
        headers: dict[str, str],
        timing: StreamTiming,
        *,
        on_close: Callable[[], Awaitable[None]] | None = None,
        keepalive: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.upstream = upstream
        self.body = body
        self.headers = headers
        self.timing = timing
        self.on_close = on_close
        self.keepalive = keepalive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        state = _State()
        lock = asyncio.Lock()
        watcher = asyncio.create_task(self._watch(receive, send, task, state, lock))
        response: Http1Response | None = None
        try:
            try:
                started = time.perf_counter()
                response = await self.upstream.post(self.body, self.headers)
                UPSTREAM_TTFB.observe(time.perf_counter() - started)
                await self._relay(response, send, state, lock)
                response.release()  # read to the end: the connection goes back to the pool
            finally:
                state.finished = True
                watcher.cancel()
                if response is not None:
                    response.close()  # a no-op after release(); else drops the connection
        except asyncio.CancelledError:
            if (state.disconnected or state.stalled) and task.uncancel() == 0:
                reason = "client_disconnect" if state.disconnected else "stalled_reader"
                STREAM_ENDS.labels(reason).inc()
                return
            raise
        except UpstreamError as exc:
            await self._upstream_failed(exc, scope, receive, send, state)
        except OSError:  # an ASGI server may report a gone client as OSError on send
            STREAM_ENDS.labels("client_disconnect").inc()
        finally:
            if self.on_close is not None:
                await self.on_close()

    async def _relay(
        self, response: Http1Response, send: Send, state: _State, lock: asyncio.Lock
    ) -> None:
        content_type = response.header(b"content-type") or b""
        if response.status != 200 or not content_type.startswith(b"text/event-stream"):
            await self._relay_whole(response, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        state.started = True
        OPEN_STREAMS.inc()
        try:
            while chunk := await response.read():
                async with lock:
                    state.send_started = time.monotonic()
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    state.send_started = 0.0
                    state.last_send = time.monotonic()
                state.at_boundary = chunk.endswith(b"\n\n")
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            STREAM_ENDS.labels("complete").inc()
        finally:
            OPEN_STREAMS.dec()

    async def _relay_whole(self, response: Http1Response, send: Send) -> None:
        body = await response.read_all()
        status = response.status
        if status >= 500:
            logger.warning("chat service answered %s: %s", status, body[:300])
            body, status = _envelope_bytes(502, "The chat service failed to answer.")
        headers = [(b"content-type", response.header(b"content-type") or b"application/json")]
        retry_after = response.header(b"retry-after")
        if retry_after is not None:
            headers.append((b"retry-after", retry_after))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _upstream_failed(
        self,
        exc: UpstreamError,
        scope: Scope,
        receive: Receive,
        send: Send,
        state: _State,
    ) -> None:
        logger.warning("chat service call failed: %r", exc)
        if state.started:
            STREAM_ENDS.labels("upstream_error").inc()
            prefix = b"" if state.at_boundary else b"\n\n"
            try:
                await send({"type": "http.response.body", "body": prefix + UPSTREAM_FAILED_EVENT})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            except OSError:
                pass
            return
        if isinstance(exc, TimeoutError):
            response = error_response(504, "The chat service did not answer in time.")
        else:
            response = error_response(502, "The chat service could not be reached.")
        await response(scope, receive, send)

    async def _watch(
        self,
        receive: Receive,
        send: Send,
        task: asyncio.Task[object],
        state: _State,
        lock: asyncio.Lock,
    ) -> None:
        """Runs beside the relay: disconnects, heartbeats, stalled sends, slot renewal."""
        heartbeat, send_timeout = self.timing.heartbeat_s, self.timing.send_timeout_s
        while True:
            now = time.monotonic()
            wake = state.last_send + heartbeat if state.started else now + heartbeat
            if state.send_started:
                wake = min(wake, state.send_started + send_timeout)
            try:
                async with asyncio.timeout(max(0.0, wake - now)):
                    message = await receive()
            except TimeoutError:
                await self._tick(send, task, state, lock)
                if state.stalled:
                    return
                continue
            if message["type"] == "http.disconnect":
                if not state.finished:
                    state.disconnected = True
                    task.cancel()
                return

    async def _tick(
        self, send: Send, task: asyncio.Task[object], state: _State, lock: asyncio.Lock
    ) -> None:
        now = time.monotonic()
        send_timeout = self.timing.send_timeout_s
        if state.send_started and now - state.send_started >= send_timeout:
            logger.warning("client stopped reading for %.0fs; ending the stream", send_timeout)
            state.stalled = True
            task.cancel()
            return
        if self.keepalive is not None:
            await self.keepalive()
        quiet = now - state.last_send >= self.timing.heartbeat_s
        if not (state.started and quiet and state.at_boundary and not lock.locked()):
            return
        async with lock:
            state.send_started = time.monotonic()
            try:
                async with asyncio.timeout(send_timeout):
                    await send({"type": "http.response.body", "body": HEARTBEAT, "more_body": True})
            except (TimeoutError, OSError):
                state.stalled = True
                task.cancel()
                return
            finally:
                state.send_started = 0.0
            state.last_send = time.monotonic()
            HEARTBEATS.inc()


def _envelope_bytes(status: int, message: str) -> tuple[bytes, int]:
    return bytes(error_response(status, message).body), status
