"""The gateway's HTTP/1.1 client against real sockets: framing, pooling, timeouts, TLS.

Each test runs a tiny raw server that writes exact bytes, so packet splits, silences and
broken answers are under the test's control. The module runs on asyncio's loop and on uvloop.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.http1 import Http1Pool, Http1Response, UpstreamError, UpstreamTimeout
from tests.support.servers import free_port

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(10),  # a regression here tends to hang rather than fail
    # pytest-asyncio 1.5 prefers a conftest hook, which would parametrize every async test
    # of the run; test_runs_on_the_parametrized_loop fails if this override stops working.
    pytest.mark.filterwarnings(
        'ignore:Overriding the "event_loop_policy" fixture:pytest.PytestDeprecationWarning'
    ),
]


@pytest.fixture(
    scope="module",
    params=[asyncio.DefaultEventLoopPolicy, uvloop.EventLoopPolicy],
    ids=["asyncio", "uvloop"],
)
def event_loop_policy(request: pytest.FixtureRequest) -> asyncio.AbstractEventLoopPolicy:
    policy: asyncio.AbstractEventLoopPolicy = request.param()
    return policy


# --- a raw server ---


@dataclass
class Request:
    method: str
    target: str
    head: bytes
    headers: dict[str, str]
    body: bytes


class Conn:
    """One accepted connection, as the server sees it."""

    def __init__(
        self, server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.index = server.connections  # 1 for the first connection
        self.reader = reader
        self.writer = writer

    async def read_request(self) -> Request | None:
        """The next request on this connection, or None once the client closed it."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.server.closed_by_client += 1
            return None
        first, *lines = head.decode("latin-1").split("\r\n")
        method, target, _ = first.split(" ")
        headers = {}
        for line in filter(None, lines):
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        request = Request(method, target, head, headers, body)
        self.server.requests.append(request)
        return request

    async def send(self, *parts: bytes, pause: float = 0.0) -> None:
        """Write `parts` one by one, sleeping `pause` between them."""
        for i, part in enumerate(parts):
            if i and pause:
                await asyncio.sleep(pause)
            self.writer.write(part)
            await self.writer.drain()

    async def hold(self) -> None:
        """Stay silent until the test ends."""
        await self.server.stopping.wait()


Handler = Callable[[Conn], Awaitable[None]]
E = TypeVar("E", bound=BaseException)


class RawServer:
    """Counts connections, records requests; a connection closes when its handler returns."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.closed_by_client = 0
        self.requests: list[Request] = []
        self.port = 0
        self.stopping = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: list[asyncio.StreamWriter] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.writers.append(writer)
        self.connections += 1
        try:
            await self.handler(Conn(self, reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serve(handler: Handler, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[RawServer]:
    raw = RawServer(handler)
    server = await asyncio.start_server(raw.accept, "127.0.0.1", 0, ssl=tls)
    raw.port = server.sockets[0].getsockname()[1]
    try:
        yield raw
    finally:
        server.close()
        # Let handlers end by themselves: a cancelled one is logged as an error on 3.11.
        raw.stopping.set()
        for writer in raw.writers:
            writer.transport.abort()
        if raw.tasks:
            _, stuck = await asyncio.wait(raw.tasks, timeout=1)
            for task in stuck:
                task.cancel()


@asynccontextmanager
async def open_pool(
    url: str,
    *,
    max_connections: int = 4,
    connect_timeout_s: float = 1.0,
    read_timeout_s: float = 2.0,
    keepalive_s: float = 15.0,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[Http1Pool]:
    pool = Http1Pool(
        url,
        max_connections=max_connections,
        connect_timeout_s=connect_timeout_s,
        read_timeout_s=read_timeout_s,
        keepalive_s=keepalive_s,
        ssl_context=ssl_context,
    )
    try:
        yield pool
    finally:
        await pool.close()


def ok(body: bytes, *headers: bytes) -> bytes:
    """A complete 200 response with a Content-Length body."""
    head = [b"HTTP/1.1 200 OK", b"content-length: %d" % len(body), *headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"


def answer_each(respond: Callable[[Request], bytes]) -> Handler:
    """A keep-alive handler: answers every request on the connection until the client closes."""

    async def handler(conn: Conn) -> None:
        while (request := await conn.read_request()) is not None:
            await conn.send(respond(request))

    return handler


echo_target = answer_each(lambda request: ok(request.target.encode()))


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait up to a second for `condition` to hold."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the condition did not hold within a second")


@asynccontextmanager
async def raises(
    error: type[E], *, match: str | None = None
) -> AsyncIterator[pytest.ExceptionInfo[E]]:
    """`pytest.raises` that fails after 2 s instead of hanging when nothing is raised."""
    with pytest.raises(error, match=match) as caught:
        async with asyncio.timeout(2):
            yield caught


async def read_at_least(response: Http1Response, size: int) -> bytes:
    """Read until `size` bytes have come (they may arrive in pieces)."""
    data = b""
    async with asyncio.timeout(1):
        while len(data) < size:
            data += await response.read()
    return data


async def get(pool: Http1Pool, path: str = "/") -> bytes:
    """GET `path`, read the body to the end and release the connection."""
    response = await pool.request("GET", path)
    body = await response.read_all()
    response.release()
    return body


# --- the loop ---


async def test_runs_on_the_parametrized_loop(
    event_loop_policy: asyncio.AbstractEventLoopPolicy,
) -> None:
    on_uvloop = isinstance(asyncio.get_running_loop(), uvloop.Loop)
    assert on_uvloop == isinstance(event_loop_policy, uvloop.EventLoopPolicy)


# --- framing ---


async def test_content_length_body_split_across_writes() -> None:
    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(
            b"HTTP/1.1 200 OK\r\nContent-Ty",
            b"pe: text/event-stream\r\nContent-Length: 11\r\nX-Multi: a\r\nX-Multi: b\r\n",
            b"\r\nhel",
            b"lo",
            b" world",
            pause=0.01,
        )
        await conn.hold()

    async with serve(handler) as server, open_pool(f"http://{server.address}") as pool:
        response = await pool.request("GET", "/")
        assert response.status == 200
        assert response.header(b"content-type") == b"text/event-stream"
        assert response.header(b"x-multi") == b"a"
        assert (b"x-multi", b"b") in response.headers
        assert response.header(b"missing") is None
        assert await response.read_all() == b"hello world"
        assert await response.read() == b""
        response.release()


async def test_chunked_body_split_across_writes() -> None:
    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(
            b"HTTP/1.1 201 Created\r\nTransfer-Enc",
            b"oding: chunked\r\n\r\n",
            b"5",
            b"\r\nhel",
            b"lo\r\n6\r",
            b"\n world\r\n",
            b"3;ext=1\r\n!!!\r\n",
            b"0\r\n",
            b"x-trailer: t\r\n\r\n",
            pause=0.01,
        )
        await conn.hold()

    async with serve(handler) as server, open_pool(f"http://{server.address}") as pool:
        response = await pool.request("GET", "/")
        assert response.status == 201
        assert await response.read_all() == b"hello world!!!"
        assert await response.read() == b""
        response.release()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_read_returns_data_while_the_server_holds_the_rest(framing: str) -> None:
    first, rest = b"data: 1\n\n", b"data: 2\n\ndata: 3\n\n"
    go_on = asyncio.Event()

    async def handler(conn: Conn) -> None:
        await conn.read_request()
        if framing == "chunked":
            await conn.send(CHUNKED_HEAD + chunk(first))
            await go_on.wait()
            await conn.send(chunk(rest) + LAST_CHUNK)
        else:
            await conn.send(ok(first + rest)[: -len(rest)])
            await go_on.wait()
            await conn.send(rest)
        await conn.hold()

    async with serve(handler) as server, open_pool(f"http://{server.address}") as pool:
        response = await pool.request("GET", "/stream")
        assert await read_at_least(response, len(first)) == first
        assert not response.complete
        go_on.set()
        assert await response.read_all() == rest
        response.release()


async def test_wake_ends_a_pending_read_without_ending_the_body() -> None:
    go_on = asyncio.Event()

    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(CHUNKED_HEAD + chunk(b"one"))
        await go_on.wait()
        await conn.send(chunk(b"two") + LAST_CHUNK)
        await conn.hold()

    async with serve(handler) as server, open_pool(f"http://{server.address}") as pool:
        response = await pool.request("GET", "/stream")
        assert await read_at_least(response, 3) == b"one"
        response.wake()  # no read pending: a no-op, the next read still waits
        pending = asyncio.create_task(response.read())
        await asyncio.sleep(0.05)
        assert not pending.done()
        response.wake()
        assert await pending == b""
        assert not response.complete
        go_on.set()
        assert await response.read_all() == b"two"
        response.release()


async def test_wakes_do_not_keep_a_silent_upstream_alive() -> None:
    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(CHUNKED_HEAD)
        await conn.hold()

    async with (
        serve(handler) as server,
        open_pool(f"http://{server.address}", read_timeout_s=0.3) as pool,
    ):
        response = await pool.request("GET", "/stream")

        async def heartbeat() -> None:
            while True:
                await asyncio.sleep(0.02)
                response.wake()

        waker = asyncio.create_task(heartbeat())
        started = time.monotonic()
        try:
            async with raises(UpstreamTimeout):
                while True:
                    assert await response.read() == b""
        finally:
            waker.cancel()
        assert 0.2 < time.monotonic() - started < 2
        response.close()


# --- keep-alive ---


async def test_interim_1xx_answer_is_skipped() -> None:
    async def handler(conn: Conn) -> None:
        while await conn.read_request() is not None:
            await conn.send(
                b"HTTP/1.1 103 Early Hints\r\nlink: </app.js>\r\n\r\n",
                ok(b"final", b"content-type: text/plain"),
                pause=0.05,
            )

    async with serve(handler) as server, open_pool(f"http://{server.address}") as pool:
        response = await pool.request("GET", "/")
        assert response.status == 200
        assert response.header(b"content-type") == b"text/plain"
        assert response.header(b"link") is None
        assert await response.read_all() == b"final"
        response.release()
        assert await get(pool) == b"final"  # the reused connection is in step


async def test_sequential_requests_share_one_connection() -> None:
    async with serve(echo_target) as server, open_pool(f"http://{server.address}") as pool:
        first = await pool.request("GET", "/one")
        assert await first.read_all() == b"/one"
        first.release()
        first.close()  # a no-op once released: the connection stays pooled
        assert await get(pool, "/two") == b"/two"
        assert await get(pool, "/three") == b"/three"
        assert server.connections == 1
        assert [request.target for request in server.requests] == ["/one", "/two", "/three"]


@pytest.mark.parametrize("end", ["release", "close"])
async def test_response_ended_before_its_end_is_not_reused(end: str) -> None:
    async def handler(conn: Conn) -> None:
        if conn.index == 1:
            await conn.read_request()
            await conn.send(ok(b"0123456789")[:-5])  # half the body,
            await conn.read_request()  # then nothing until the client drops the connection
        else:
            await echo_target(conn)

    async with serve(handler) as server, open_pool(f"http://{server.address}") as pool:
        response = await pool.request("GET", "/partial")
        assert await read_at_least(response, 5) == b"01234"
        if end == "release":
            response.release()
        else:
            response.close()
        assert await get(pool, "/next") == b"/next"
        assert server.connections == 2
        await eventually(lambda: server.closed_by_client == 1)


async def test_response_arrived_but_unread_is_not_reused() -> None:
    async with serve(echo_target) as server, open_pool(f"http://{server.address}") as pool:
        response = await pool.request("GET", "/unread")
        await eventually(lambda: response.complete)  # the whole body waits in the buffer
        response.release()
        assert await get(pool, "/next") == b"/next"
        assert server.connections == 2
        await eventually(lambda: server.closed_by_client == 1)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ],
    ids=["connection-close", "http-1.0"],
)
async def test_response_that_ends_the_connection_is_not_reused(answer: bytes) -> None:
    # The server itself keeps the connection open: the client must not reuse it anyway.
    async with (
        serve(answer_each(lambda _: answer)) as server,
        open_pool(f"http://{server.address}") as pool,
    ):
        assert await get(pool) == b"ok"
        assert await get(pool) == b"ok"
        assert server.connections == 2
        await eventually(lambda: server.closed_by_client == 2)


async def test_idle_connection_expires_after_keepalive() -> None:
    async with (
        serve(echo_target) as server,
        open_pool(f"http://{server.address}", keepalive_s=0.2) as pool,
    ):
        await get(pool, "/1")
        await asyncio.sleep(0.05)
        await get(pool, "/2")
        assert server.connections == 1
        await asyncio.sleep(0.3)
        assert await get(pool, "/3") == b"/3"
        assert server.connections == 2
        await eventually(lambda: server.closed_by_client == 1)


async def test_connection_closed_by_the_server_while_idle_is_not_reused() -> None:
    async def handler(conn: Conn) -> None:
        request = await conn.read_request()
        assert request is not None
        await conn.send(ok(request.target.encode()))  # then the handler ends: close

    async with serve(handler) as server, open_pool(f"http://{server.address}") as pool:
        first = await pool.request("GET", "/1")
        assert await first.read_all() == b"/1"
        first.release()
        await eventually(lambda: first.lost)
        assert await get(pool, "/2") == b"/2"
        assert server.connections == 2


async def test_third_request_waits_for_one_of_two_connections() -> None:
    async with (
        serve(echo_target) as server,
        open_pool(f"http://{server.address}", max_connections=2) as pool,
    ):
        tasks = [asyncio.create_task(pool.request("GET", f"/{i}")) for i in range(3)]
        await eventually(lambda: sum(task.done() for task in tasks) == 2)
        await asyncio.sleep(0.1)
        assert [task.done() for task in tasks] == [True, True, False]
        assert server.connections == 2
        assert len(server.requests) == 2  # the third was not even sent

        first = tasks[0].result()
        assert await first.read_all() == b"/0"
        first.release()
        async with asyncio.timeout(1):
            third = await tasks[2]
        assert await third.read_all() == b"/2"
        assert server.connections == 2  # it took the released connection
        second = tasks[1].result()
        assert await second.read_all() == b"/1"
        second.release()
        third.release()


async def test_pool_close_drops_idle_connections_and_later_releases() -> None:
    async with serve(echo_target) as server:
        pool = Http1Pool(
            f"http://{server.address}",
            max_connections=4,
            connect_timeout_s=1.0,
            read_timeout_s=2.0,
        )
        idle = await pool.request("GET", "/idle")
        busy = await pool.request("GET", "/busy")
        await idle.read_all()
        idle.release()
        await pool.close()
        await eventually(lambda: server.closed_by_client == 1)
        assert await busy.read_all() == b"/busy"
        busy.release()
        await eventually(lambda: server.closed_by_client == 2)


# --- the request ---


async def test_request_head_and_body_reach_the_server() -> None:
    body = os.urandom(200_000)
    async with (
        serve(echo_target) as server,
        open_pool(f"http://{server.address}/api/") as pool,
    ):
        response = await pool.request(
            "POST",
            "/v1/chat",
            body=body,
            headers={"X-Trace": "t-1", "Content-Type": "application/octet-stream"},
        )
        assert await response.read_all() == b"/api/v1/chat"
        response.release()
        empty_post = await pool.request("POST", "/empty")
        await empty_post.read_all()
        empty_post.release()
        assert await get(pool, "/health") == b"/api/health"

    post, empty, health = server.requests
    assert (post.method, post.target) == ("POST", "/api/v1/chat")
    assert post.head.lower().count(b"\r\nhost:") == 1
    assert post.headers["host"] == server.address
    assert post.headers["x-trace"] == "t-1"
    assert post.headers["content-type"] == "application/octet-stream"
    assert post.headers["content-length"] == str(len(body))
    assert post.body == body
    assert empty.headers["content-length"] == "0"
    assert (health.method, health.target) == ("GET", "/api/health")
    assert "content-length" not in health.headers
    assert health.headers["host"] == server.address


@pytest.mark.parametrize(
    "headers",
    [
        {"x-a": "1\r\nx-evil: 1"},
        {"x-a": "1\nx-evil: 1"},
        {"x-a": "1\r"},
        {"x-a\r\nx-evil": "1"},
        {"x-a: 1\r\nx-b": "1"},
    ],
    ids=["crlf-value", "lf-value", "cr-value", "crlf-name", "colon-name"],
)
async def test_header_with_line_break_is_refused_before_sending(headers: dict[str, str]) -> None:
    async with (
        serve(echo_target) as server,
        open_pool(f"http://{server.address}", max_connections=1) as pool,
    ):
        with pytest.raises(ValueError, match="cannot be sent"):
            await pool.request("GET", "/", headers=headers)
        await asyncio.sleep(0.05)
        assert server.connections == 0
        async with asyncio.timeout(1):  # the only slot is still free
            assert await get(pool, "/after") == b"/after"
        assert [request.target for request in server.requests] == ["/after"]


# --- failures ---


async def test_connection_refused_is_an_upstream_error() -> None:
    async with open_pool(f"http://127.0.0.1:{free_port()}", max_connections=1) as pool:
        for _ in range(2):  # the slot is given back after a failed connect
            async with raises(UpstreamError, match="cannot connect") as caught:
                await pool.request("GET", "/")
            assert not isinstance(caught.value, UpstreamTimeout)


async def test_connect_timeout_is_an_upstream_timeout() -> None:
    # A listener that never accepts, with its one-connection backlog taken: Linux drops the
    # next SYN, so connecting hangs.
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        filler.connect(listener.getsockname())
        url = "http://{}:{}".format(*listener.getsockname())
        async with open_pool(url, max_connections=1, connect_timeout_s=0.2) as pool:
            started = time.monotonic()
            async with raises(UpstreamTimeout, match="connecting"):
                await pool.request("GET", "/")
            assert time.monotonic() - started < 1


async def test_silence_after_headers_times_out() -> None:
    async def handler(conn: Conn) -> None:
        if conn.index == 1:
            await conn.read_request()
            await conn.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n01234")
            await conn.hold()
        else:
            await echo_target(conn)

    async with (
        serve(handler) as server,
        open_pool(f"http://{server.address}", max_connections=1, read_timeout_s=0.3) as pool,
    ):
        response = await pool.request("GET", "/")
        assert await read_at_least(response, 5) == b"01234"
        started = time.monotonic()
        async with raises(UpstreamTimeout) as caught:
            await response.read()
        assert 0.2 < time.monotonic() - started < 2
        assert isinstance(caught.value, TimeoutError)
        async with raises(UpstreamTimeout):  # it stays failed
            await response.read()
        response.close()
        async with asyncio.timeout(1):
            assert await get(pool, "/after") == b"/after"
        assert server.connections == 2


async def test_silence_before_headers_times_out() -> None:
    async def handler(conn: Conn) -> None:
        if conn.index == 1:
            await conn.read_request()
            await conn.hold()
        else:
            await echo_target(conn)

    async with (
        serve(handler) as server,
        open_pool(f"http://{server.address}", max_connections=1, read_timeout_s=0.3) as pool,
    ):
        started = time.monotonic()
        async with raises(UpstreamTimeout):
            await pool.request("GET", "/")
        assert 0.2 < time.monotonic() - started < 2
        async with asyncio.timeout(1):
            assert await get(pool, "/after") == b"/after"
        assert server.connections == 2


async def test_steady_trickle_longer_than_the_read_timeout_does_not_time_out() -> None:
    events = [b"data: %d\n\n" % i for i in range(8)]

    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(CHUNKED_HEAD)
        for event in events:
            await asyncio.sleep(0.15)
            await conn.send(chunk(event))
        await conn.send(LAST_CHUNK)
        await conn.hold()

    async with (
        serve(handler) as server,
        open_pool(f"http://{server.address}", read_timeout_s=0.4) as pool,
    ):
        started = time.monotonic()
        response = await pool.request("GET", "/stream")
        assert await response.read_all() == b"".join(events)
        assert time.monotonic() - started > 1.0
        response.release()


@pytest.mark.parametrize(
    "sent",
    [
        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial",
        CHUNKED_HEAD + chunk(b"partial") + b"20\r\nhalf a ch",
        CHUNKED_HEAD + chunk(b"partial"),
    ],
    ids=["content-length", "chunked-mid-chunk", "chunked-between-chunks"],
)
async def test_server_closing_mid_body_is_an_upstream_error(sent: bytes) -> None:
    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(sent)  # then the handler ends: close

    async with serve(handler) as server, open_pool(f"http://{server.address}") as pool:
        response = await pool.request("GET", "/")
        started = time.monotonic()
        async with raises(UpstreamError, match="mid-answer") as caught:
            await response.read_all()
        assert not isinstance(caught.value, UpstreamTimeout)
        assert time.monotonic() - started < 1
        response.close()


@pytest.mark.parametrize(
    "sent",
    [
        b"HTTP/1.1 2x0 OK\r\ncontent-length: 0\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: ten\r\n\r\n",
    ],
    ids=["status", "not-http", "content-length"],
)
async def test_malformed_response_head_is_an_upstream_error(sent: bytes) -> None:
    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(sent)
        await conn.hold()  # the client must not wait for a close (or the read timeout)

    async with serve(handler) as server, open_pool(f"http://{server.address}") as pool:
        started = time.monotonic()
        async with raises(UpstreamError, match="malformed"):
            await pool.request("GET", "/")
        assert time.monotonic() - started < 1


async def test_malformed_chunk_is_an_upstream_error() -> None:
    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(CHUNKED_HEAD + chunk(b"fine"), b"zz\r\nbad\r\n", pause=0.05)
        await conn.hold()

    async with serve(handler) as server, open_pool(f"http://{server.address}") as pool:
        response = await pool.request("GET", "/")
        assert await read_at_least(response, 4) == b"fine"
        async with raises(UpstreamError, match="malformed"):
            await response.read()
        response.close()


async def test_server_closing_without_an_answer_is_an_upstream_error() -> None:
    async def handler(conn: Conn) -> None:
        await conn.read_request()

    async with (
        serve(handler) as server,
        open_pool(f"http://{server.address}") as pool,
        raises(UpstreamError, match="mid-answer"),
    ):
        await pool.request("GET", "/")


# --- back-pressure ---


async def test_slow_reader_pauses_the_socket_and_still_gets_every_byte() -> None:
    payload = os.urandom(2 * 1024 * 1024)
    async with (
        serve(answer_each(lambda _: ok(payload))) as server,
        open_pool(f"http://{server.address}", read_timeout_s=1.0) as pool,
    ):
        response = await pool.request("GET", "/big")
        await eventually(lambda: response._paused)
        # Paused longer than the read timeout: the buffer stops growing well short of the
        # body, and the client's own pause is not taken for a silent upstream.
        await asyncio.sleep(1.3)
        assert response._paused
        assert response._buffered < len(payload) // 2
        assert await response.read_all() == payload
        assert not response._paused
        response.release()
        assert await get(pool, "/again") == payload
        assert server.connections == 1


# --- TLS ---


@pytest.fixture(scope="module")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_https_upstream(tls_certificate: tuple[Path, Path]) -> None:
    cert_file, key_file = tls_certificate
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    trusting = ssl.create_default_context(cafile=str(cert_file))

    async def handler(conn: Conn) -> None:
        while (request := await conn.read_request()) is not None:
            await conn.send(CHUNKED_HEAD, chunk(request.target.encode()), chunk(b"!"), LAST_CHUNK)

    async with serve(handler, tls=server_context) as server:
        async with open_pool(f"https://{server.address}", ssl_context=trusting) as pool:
            assert await get(pool, "/secure") == b"/secure!"
            assert await get(pool, "/again") == b"/again!"
            assert server.connections == 1

        async with (
            open_pool(f"https://{server.address}") as untrusting,
            raises(UpstreamError, match="cannot connect"),
        ):
            await untrusting.request("GET", "/")
