"""A lean HTTP/1.1 client for the platform's hot internal paths.

The gateway relays the chat service's streams over it, and the chat service calls the
store with it (`shared.http.ServiceHttp`). Why not aiohttp or httpx there:
- an open SSE stream is mostly idle memory, and the gateway holds one per reader.
  aiohttp keeps about 10 KB of Python objects per open response (a request, a
  response, a connection wrapper, a protocol, and stream readers with a 760-byte deque
  each); this client keeps one protocol object per connection, with httptools
  (uvicorn's parser) doing the parsing in C (bench/gateway_bench.py);
- per call, httpx's API layer (URL merging, cookie handling) and aiohttp's transport
  cost about 0.2 ms each, which shows on a store call of about 1 ms (bench/store_bench.py).

What it does: keep-alive pooling with a cap on connections, an idle expiry shorter
than the server's, a connect timeout, a read timeout that is the longest silence (not
a cap on the whole answer), back-pressure (the socket stops being read while the
reader is behind), and plain `http` or `https` upstreams. A response that is not read
to the end is aborted, never pooled.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import cast
from urllib.parse import urlsplit

import httptools

# Stop reading the socket once this much body waits for the reader; resume below half.
HIGH_WATER = 64 * 1024


class UpstreamError(Exception):
    """The upstream could not be reached, or broke off or garbled its answer."""


class UpstreamTimeout(UpstreamError, TimeoutError):
    """Connecting took longer than the connect timeout, or the answer went silent for
    longer than the read timeout."""


class Http1Response(asyncio.Protocol):
    """One pooled connection and the response being read on it.

    The body is read with `read()` (whatever has arrived, `b""` at the end) or
    `read_all()`; then `release()` returns the connection to its pool. `close()` drops
    the connection at any point, and is a no-op after `release()`.
    """

    __slots__ = (
        "_buffered",
        "_chunks",
        "_error",
        "_idle_timer",
        "_last_data",
        "_leased",
        "_paused",
        "_pool",
        "_waiter",
        "complete",
        "headers",
        "idle_since",
        "lost",
        "parser",
        "status",
        "transport",
    )

    def __init__(self, pool: Http1Pool) -> None:
        self._pool = pool
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._leased = True
        self.idle_since = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._reset()

    def _reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = False
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._paused = False
        self._error: UpstreamError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._last_data = time.monotonic()

    def header(self, name: bytes) -> bytes | None:
        """The first value of response header `name` (lower case), if present."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._last_data = time.monotonic()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"malformed response from the upstream: {exc}"))
            self.abort()

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.complete:
            reason = f": {exc!r}" if exc else ""
            self._fail(UpstreamError(f"the upstream closed the connection mid-answer{reason}"))
        self._stop_idle_timer()

    # --- httptools callbacks ---

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            self.headers.clear()  # an interim answer (100 Continue, 103 Early Hints)
            return
        self.status = status
        self.wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self.wake()

    def on_message_complete(self) -> None:
        if not self.status:
            return  # the end of an interim answer; the final one follows
        self.complete = True
        if not self.parser.should_keep_alive():
            self.lost = True  # not reusable; closed when released
        self._stop_idle_timer()
        self.wake()

    # --- reading ---

    async def read(self) -> bytes:
        """The body bytes that have arrived since the last read; waits while none have.

        `b""` once the body has ended (`complete`), or when `wake()` was called. Raises
        `UpstreamTimeout` after the read timeout of silence and `UpstreamError` if the
        answer breaks off.
        """
        if not self._chunks:
            if self.complete:
                return b""
            await self._wait()
            if not self._chunks:
                return b""
        chunks, self._chunks = self._chunks, []
        self._buffered = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
            self._last_data = time.monotonic()  # our pause was no silence of the upstream
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def read_all(self) -> bytes:
        """The whole remaining body."""
        parts = []
        while not self.complete or self._chunks:
            parts.append(await self.read())
        return b"".join(parts)

    async def _wait_for_headers(self) -> None:
        while not self.status:
            await self._wait()

    async def _wait(self) -> None:
        if self._error is not None:
            raise self._error
        self._waiter = asyncio.get_running_loop().create_future()
        self._start_idle_timer()
        try:
            await self._waiter
        finally:
            self._waiter = None
        if self._error is not None:
            raise self._error

    def wake(self) -> None:
        """Make a pending `read()` return `b""` now (a no-op when none is pending)."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: UpstreamError) -> None:
        if self._error is None:
            self._error = error
        self.wake()

    # One timer per connection, re-armed only when it fires early: a fresh timer per
    # chunk would cost a TimerHandle and a heap push for every event relayed.
    def _start_idle_timer(self) -> None:
        if self._idle_timer is None:
            loop = asyncio.get_running_loop()
            self._idle_timer = loop.call_at(
                self._last_data + self._pool.read_timeout_s, self._idle_check
            )

    def _idle_check(self) -> None:
        self._idle_timer = None
        if self.complete or self.lost or self._waiter is None:
            return  # nobody is reading (busy, or paused by us): the next wait re-arms
        silent_until = self._last_data + self._pool.read_timeout_s
        if time.monotonic() < silent_until:
            self._start_idle_timer()
            return
        self._fail(UpstreamTimeout(f"no data from the upstream for {self._pool.read_timeout_s}s"))
        self.abort()

    def _stop_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    # --- ending ---

    def release(self) -> None:
        """Back to the pool if the answer was read to the end on a reusable connection,
        else close it. Either way the pool slot is freed."""
        if not self._leased:
            return
        self._leased = False
        if self.complete and not self.lost and not self._chunks:
            self._pool._put_back(self)
        else:
            self.abort()
            self._pool._slot_freed()

    def close(self) -> None:
        """Drop the connection (an answer not read to the end cannot be reused)."""
        if self._leased:
            self.abort()
            self.release()

    def abort(self) -> None:
        self.lost = True
        self._stop_idle_timer()
        if self.transport is not None:
            self.transport.abort()


class Http1Pool:
    """Keep-alive connections to one `http://` or `https://` origin.

    `max_connections` caps connections open at once (a request waits for a free one);
    idle connections are dropped after `keepalive_s`, which must be shorter than the
    server's keep-alive timeout so a connection the server is closing is never reused.
    """

    def __init__(
        self,
        base_url: str,
        *,
        max_connections: int,
        connect_timeout_s: float,
        read_timeout_s: float,
        keepalive_s: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL, got {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self._host_header = parts.netloc.encode("idna")
        self._ssl: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._ssl = ssl_context or ssl.create_default_context()
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.keepalive_s = keepalive_s
        self._idle: list[Http1Response] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._closed = False

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> Http1Response:
        """Send a request (GET or POST: the calls the gateway makes) and wait for the
        response's status and headers.

        The caller must end the response with `release()` or `close()`.
        """
        head = _request_head(method, self.prefix + path, self._host_header, len(body), headers)
        await self._slots.acquire()
        try:
            response = self._take_idle() or await self._connect()
        except BaseException:
            self._slots.release()
            raise
        try:
            assert response.transport is not None
            response.transport.write(head + body)
            await response._wait_for_headers()
        except BaseException:
            response.close()
            raise
        return response

    def _take_idle(self) -> Http1Response | None:
        now = time.monotonic()
        while self._idle:
            response = self._idle.pop()
            if response.lost or now - response.idle_since > self.keepalive_s:
                response.abort()
                continue
            response._reset()
            response._leased = True
            return response
        return None

    async def _connect(self) -> Http1Response:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, protocol = await loop.create_connection(
                    lambda: Http1Response(self),
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None,
                )
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"connecting to {self.host}:{self.port} took over {self.connect_timeout_s}s"
            ) from exc
        except OSError as exc:
            raise UpstreamError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        return protocol

    def _put_back(self, response: Http1Response) -> None:
        if self._closed:
            response.abort()
        else:
            response.idle_since = time.monotonic()
            self._idle.append(response)
        self._slots.release()

    def _slot_freed(self) -> None:
        self._slots.release()

    async def close(self) -> None:
        """Close idle connections; responses still open close when their callers end them."""
        self._closed = True
        while self._idle:
            self._idle.pop().abort()


def _request_head(
    method: str, target: str, host: bytes, length: int, headers: dict[str, str] | None
) -> bytes:
    lines = [f"{method} {target or '/'} HTTP/1.1".encode("ascii"), b"host: " + host]
    for name, value in (headers or {}).items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise ValueError(f"header {name!r} cannot be sent: it holds a line break")
        lines.append(f"{name}: {value}".encode("latin-1"))
    if length or method != "GET":
        lines.append(b"content-length: %d" % length)
    return b"\r\n".join(lines) + b"\r\n\r\n"
