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
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import Message, Receive, Scope, Send

from shared.contracts.chat import CHATKIT_PATH
from shared.contracts.gateway import HEARTBEAT
from shared.errors import error_response
from shared.http import ServiceHttp, Streamed, UpstreamError, UpstreamTimeout

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
        max_answer_bytes: int,
    ) -> None:
        """`max_answer_bytes` bounds a JSON answer, which is relayed whole (a stream is
        relayed as it comes)."""
        # The read timeout is the longest silence, not a cap on the whole answer:
        # answers stay quiet for a while when the model thinks or tools run.
        self.http = ServiceHttp(
            base_url,
            service="chat",
            token=token,
            timeout_s=idle_timeout_s,
            connect_timeout_s=connect_timeout_s,
            max_connections=max_connections,
            max_body_bytes=max_answer_bytes,
        )

    def post(
        self,
        body: bytes,
        headers: dict[str, str],
        *,
        method: str = "POST",
        path: str = CHATKIT_PATH,
    ) -> AbstractAsyncContextManager[Streamed]:
        """Send a ChatKit request (or a resume or stop request at `path`); the answer is read
        inside the context."""
        return self.http.stream(method, path, body=body or None, headers=headers)

    async def healthy(self) -> None:
        """Raises unless the chat service answers `/healthz` with 200 within 2 s."""
        async with asyncio.timeout(2):
            status = await self.http.status("/healthz")
        if status != 200:
            raise RuntimeError(f"chat service /healthz answered {status}")

    async def close(self) -> None:
        await self.http.aclose()


class _Relay:
    """One stream being relayed: what the clock and the disconnect watcher look at."""

    __slots__ = (
        "at_boundary",
        "disconnected",
        "finished",
        "keepalive_at",
        "last_send",
        "reading",
        "send_started",
        "stalled",
        "started",
        "task",
        "watcher",
        "woken",
    )

    def __init__(self, task: asyncio.Task[object]) -> None:
        self.task = task
        self.watcher: asyncio.Future[Message] | None = None  # the disconnect watcher's receive
        self.started = False  # SSE headers sent
        self.finished = False
        self.disconnected = False
        self.stalled = False
        self.at_boundary = True  # the bytes sent so far end between two events
        self.last_send = time.monotonic()
        self.send_started = 0.0  # when the send in progress began; 0: none
        self.reading = False  # waiting for the upstream's next bytes
        self.woken = False  # the clock cancelled that wait: a heartbeat is due
        self.keepalive_at = 0.0


class StreamClock:
    """One timer for every open stream, instead of a timer per read and per send (an open
    stream is mostly idle memory, and a timer per read was an eighth of the relay's CPU).

    Every tick it wakes the streams that wait for the upstream and have sent nothing for
    a heartbeat interval (by cancelling that wait, which loses nothing: the bytes wait
    for the next read), and cuts off the streams whose reader has not taken a send for
    the send timeout.
    """

    def __init__(self, timing: StreamTiming) -> None:
        self.timing = timing
        self.tick_s = min(1.0, timing.heartbeat_s / 4, timing.send_timeout_s / 4)
        self._relays: set[_Relay] = set()
        self._task: asyncio.Task[None] | None = None

    def add(self, relay: _Relay) -> None:
        self._relays.add(relay)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="stream-clock")

    def discard(self, relay: _Relay) -> None:
        self._relays.discard(relay)

    async def _run(self) -> None:
        heartbeat_s, send_timeout_s = self.timing.heartbeat_s, self.timing.send_timeout_s
        while True:
            await asyncio.sleep(self.tick_s)
            now = time.monotonic()
            for relay in self._relays:
                if relay.send_started and now - relay.send_started >= send_timeout_s:
                    if not relay.stalled:
                        logger.warning(
                            "client stopped reading for %.0fs; ending the stream", send_timeout_s
                        )
                        relay.stalled = True
                        relay.task.cancel()
                elif relay.reading and not relay.woken and now - relay.last_send >= heartbeat_s:
                    relay.woken = True
                    relay.task.cancel()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task


class UpstreamCall:
    """ASGI response relaying one POST to the chat service back to the client."""

    __slots__ = (
        "body",
        "clock",
        "headers",
        "keepalive",
        "method",
        "on_close",
        "outlives_client",
        "path",
        "upstream",
    )

    def __init__(
        self,
        upstream: ChatUpstream,
        body: bytes,
        headers: dict[str, str],
        clock: StreamClock,
        *,
        on_close: Callable[[], Awaitable[None]] | None = None,
        keepalive: Callable[[], Awaitable[None]] | None = None,
        method: str = "POST",
        path: str = CHATKIT_PATH,
        outlives_client: bool = False,
    ) -> None:
        """`outlives_client`: the call runs to its end even when the client left (a stop,
        which a page reloaded right after it must not take back); otherwise it is cancelled."""
        self.upstream = upstream
        self.outlives_client = outlives_client
        self.method = method
        self.path = path
        self.body = body
        self.headers = headers
        self.clock = clock
        self.on_close = on_close
        self.keepalive = keepalive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        relay = _Relay(task)
        if not self.outlives_client:
            relay.watcher = _watch_for_disconnect(receive, relay)
        try:
            try:
                started = time.perf_counter()
                call = self.upstream.post(
                    self.body, self.headers, method=self.method, path=self.path
                )
                async with call as response:
                    self.body, self.headers = b"", {}  # sent: an open stream keeps neither
                    UPSTREAM_TTFB.observe(time.perf_counter() - started)
                    await self._relay(response, send, relay)
            finally:
                relay.finished = True
                if relay.watcher is not None:
                    relay.watcher.cancel()
        except asyncio.CancelledError:
            if (relay.disconnected or relay.stalled) and task.uncancel() == 0:
                reason = "client_disconnect" if relay.disconnected else "stalled_reader"
                STREAM_ENDS.labels(reason).inc()
                return
            raise
        except UpstreamError as exc:
            await self._upstream_failed(exc, scope, receive, send, relay)
        except OSError:  # an ASGI server may report a gone client as OSError on send
            STREAM_ENDS.labels("client_disconnect").inc()
        finally:
            if self.on_close is not None:
                await self.on_close()

    async def _relay(self, response: Streamed, send: Send, relay: _Relay) -> None:
        content_type = response.headers.get("content-type", "")
        if response.status != 200 or not content_type.startswith("text/event-stream"):
            await self._relay_whole(response, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        relay.started = True
        OPEN_STREAMS.inc()
        self.clock.add(relay)
        heartbeat_s = self.clock.timing.heartbeat_s
        task = relay.task
        try:
            while True:
                relay.reading = True
                try:
                    chunk = await response.read_chunk()
                except asyncio.CancelledError:
                    relay.reading = False
                    # Woken by the clock (and by nothing else: then the count is not 0).
                    if not relay.woken or task.uncancel() != 0:
                        raise
                    relay.woken = False
                    if relay.at_boundary:  # quiet for a heartbeat interval
                        await _send_body(send, relay, HEARTBEAT)
                        HEARTBEATS.inc()
                else:
                    relay.reading = False
                    if not chunk:
                        break
                    await _send_body(send, relay, chunk)
                    relay.at_boundary = chunk.endswith(b"\n\n")
                if self.keepalive is not None and (now := time.monotonic()) >= relay.keepalive_at:
                    relay.keepalive_at = now + heartbeat_s
                    await self.keepalive()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            STREAM_ENDS.labels("complete").inc()
        finally:
            self.clock.discard(relay)
            OPEN_STREAMS.dec()

    async def _relay_whole(self, response: Streamed, send: Send) -> None:
        body = await response.read_all(self.upstream.http.max_body_bytes)
        status = response.status
        if status >= 500:
            logger.warning("chat service answered %s: %s", status, body[:300])
            body, status = _envelope_bytes(502, "The chat service failed to answer.")
        content_type = response.headers.get("content-type", "application/json")
        headers = [(b"content-type", content_type.encode("latin-1"))]
        retry_after = response.headers.get("retry-after")
        if retry_after is not None:
            headers.append((b"retry-after", retry_after.encode("latin-1")))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _upstream_failed(
        self,
        exc: UpstreamError,
        scope: Scope,
        receive: Receive,
        send: Send,
        relay: _Relay,
    ) -> None:
        logger.warning("chat service call failed: %r", exc)
        if relay.started:
            STREAM_ENDS.labels("upstream_error").inc()
            prefix = b"" if relay.at_boundary else b"\n\n"
            try:
                await send({"type": "http.response.body", "body": prefix + UPSTREAM_FAILED_EVENT})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            except OSError:
                pass
            return
        if isinstance(exc, UpstreamTimeout):
            response = error_response(504, "The chat service did not answer in time.")
        else:
            response = error_response(502, "The chat service could not be reached.")
        await response(scope, receive, send)


async def _send_body(send: Send, relay: _Relay, body: bytes) -> None:
    """One send, stamped so the clock can tell a reader that stopped reading."""
    relay.send_started = time.monotonic()
    await send({"type": "http.response.body", "body": body, "more_body": True})
    relay.send_started = 0.0
    relay.last_send = time.monotonic()


def _watch_for_disconnect(receive: Receive, relay: _Relay) -> asyncio.Future[Message]:
    """Runs beside the relay: a client that goes away cancels it at once.

    A task of `receive()` itself with a callback, not a coroutine looping over it: an
    open stream spends its life waiting here, so it waits in one frame less.
    """
    waiting = asyncio.ensure_future(receive())

    def received(done: asyncio.Future[Message]) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        if done.result()["type"] != "http.disconnect":
            relay.watcher = _watch_for_disconnect(receive, relay)  # the unread body, if any
        elif not relay.finished:
            relay.disconnected = True
            relay.task.cancel()

    waiting.add_done_callback(received)
    return waiting


def _envelope_bytes(status: int, message: str) -> tuple[bytes, int]:
    return bytes(error_response(status, message).body), status
