"""`ServiceHttp` against real sockets, as a misbehaving or hostile upstream would answer.

Each test runs a raw server (`tests.support.raw_http`) that writes exact bytes. The
module runs on asyncio's loop and on uvloop, as the services do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvloop

from shared.http import (
    ServiceHttp,
    UpstreamRefused,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from tests.support.raw_http import (
    CHUNKED_HEAD,
    LAST_CHUNK,
    Conn,
    answer_each,
    chunk,
    echo_target,
    eventually,
    ok,
    raises,
    serve,
)
from tests.support.servers import free_port

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(10),  # a regression here tends to hang rather than fail
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


@asynccontextmanager
async def client(
    url: str,
    *,
    timeout_s: float = 2.0,
    connect_timeout_s: float = 1.0,
    max_connections: int = 4,
    max_body_bytes: int = 1024 * 1024,
    token: str | None = None,
) -> AsyncIterator[ServiceHttp]:
    async with ServiceHttp(
        url,
        service="test",
        token=token,
        timeout_s=timeout_s,
        connect_timeout_s=connect_timeout_s,
        max_connections=max_connections,
        max_body_bytes=max_body_bytes,
    ) as http:
        yield http


async def test_runs_on_the_parametrized_loop(
    event_loop_policy: asyncio.AbstractEventLoopPolicy,
) -> None:
    on_uvloop = isinstance(asyncio.get_running_loop(), uvloop.Loop)
    assert on_uvloop == isinstance(event_loop_policy, uvloop.EventLoopPolicy)


# --- what is sent ---


async def test_request_carries_the_token_request_id_and_json_body() -> None:
    async with serve(echo_target) as server, client(server.url, token="s3cret") as http:
        answer = await http.request("POST", "/v1/x", body=b'{"a":1}', params={"limit": 5})
    (request,) = server.requests
    assert (request.method, request.target, request.body) == ("POST", "/v1/x?limit=5", b'{"a":1}')
    assert request.headers["x-service-token"] == "s3cret"
    assert request.headers["content-type"] == "application/json"
    assert len(request.headers["x-request-id"]) >= 16
    assert answer.content == b"/v1/x?limit=5"


@pytest.mark.parametrize("path", ["/a\r\nX-Evil: 1", "/a\nb", "/a b", "/a\x00"])
async def test_a_target_with_control_characters_is_refused_before_sending(path: str) -> None:
    async with serve(echo_target) as server, client(server.url) as http:
        with pytest.raises(ValueError, match="control character"):
            await http.request("GET", path)
    assert server.connections == 0


async def test_a_header_with_a_line_break_is_refused_before_sending() -> None:
    async with serve(echo_target) as server, client(server.url) as http:
        with pytest.raises(ValueError):
            await http.request("GET", "/", headers={"x-user-id": "a\r\nx-evil: 1"})
    assert server.requests == []


# --- statuses ---


async def test_statuses_outside_2xx_raise_unless_expected() -> None:
    statuses = iter([503, 404, 404])

    def respond(_: object) -> bytes:
        status = next(statuses)
        body = b'{"error":{"code":"x","message":"nope"}}'
        return b"HTTP/1.1 %d X\r\ncontent-length: %d\r\n\r\n%s" % (status, len(body), body)

    async with (
        serve(answer_each(respond)) as server,
        client(server.url) as http,
        raises(UpstreamUnavailable, match="answered 503: nope"),
    ):
        await http.request("GET", "/")
        async with raises(UpstreamRefused) as refused:
            await http.request("GET", "/")
        assert refused.value.status == 404
        answer = await http.request("GET", "/", expect=(404,))
        assert (answer.status, answer.error_message()) == (404, "nope")


# --- framing and pooling ---


async def test_chunked_body_split_across_writes_and_the_connection_is_reused() -> None:
    async def handler(conn: Conn) -> None:
        while await conn.read_request() is not None:
            await conn.send(
                b"HTTP/1.1 200 OK\r\nTransfer-Enc",
                b"oding: chunked\r\n\r\n5",
                b"\r\nhel",
                b"lo\r\n6\r",
                b"\n world\r\n" + LAST_CHUNK,
                pause=0.01,
            )

    async with serve(handler) as server, client(server.url) as http:
        assert (await http.request("GET", "/")).content == b"hello world"
        assert (await http.request("GET", "/")).content == b"hello world"
    assert server.connections == 1


async def test_bytes_after_a_complete_answer_are_not_part_of_it_nor_of_the_next() -> None:
    smuggled = ok(b"ok") + b"HTTP/1.1 403 Forbidden\r\ncontent-length: 5\r\n\r\nEVIL!"
    async with serve(answer_each(lambda _: smuggled)) as server, client(server.url) as http:
        first = await http.request("GET", "/")
        second = await http.request("GET", "/")
    assert (first.status, first.content) == (200, b"ok")
    assert (second.status, second.content) == (200, b"ok")
    assert server.connections == 2  # the poisoned connection was dropped, not reused


async def test_an_answer_sent_to_an_idle_pooled_connection_is_never_delivered() -> None:
    inject, injected = asyncio.Event(), asyncio.Event()

    async def handler(conn: Conn) -> None:
        while await conn.read_request() is not None:
            if conn.index == 1:
                await conn.send(ok(b"ok"))
                await inject.wait()  # the client has pooled the connection by now
                await conn.send(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 5\r\n\r\nEVIL!")
                injected.set()
            else:
                await conn.send(ok(b"fresh"))

    async with serve(handler) as server, client(server.url) as http:
        assert (await http.request("GET", "/")).content == b"ok"
        inject.set()
        await injected.wait()
        await eventually(lambda: all(p.should_close for p in pooled_protocols(http)))
        answer = await http.request("GET", "/")
    assert (answer.status, answer.content) == (200, b"fresh")


def pooled_protocols(http: ServiceHttp) -> list[Any]:
    """The protocols of the idle connections in `http`'s pool (aiohttp's internals)."""
    assert http._session is not None
    connector: Any = http._session.connector
    return [protocol for idle in connector._conns.values() for protocol, _ in idle]


async def test_a_pooled_connection_idle_longer_than_the_read_timeout_is_reused() -> None:
    # aiohttp 3.14 re-armed the read timer on a pooled connection (aio-libs/aiohttp#12953)
    async with serve(echo_target) as server, client(server.url, timeout_s=0.2) as http:
        assert (await http.request("GET", "/one")).content == b"/one"
        await asyncio.sleep(0.4)  # the scenario: idle for twice the read timeout
        assert (await http.request("GET", "/two")).content == b"/two"
    assert server.connections == 1


async def test_a_stream_left_before_its_end_drops_the_connection() -> None:
    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(CHUNKED_HEAD + chunk(b"data: 1\n\n"))
        assert await conn.read_request() is None  # closed, not pooled

    async with serve(handler) as server, client(server.url) as http:
        async with http.stream("GET", "/stream") as got:
            assert await got.read_chunk() == b"data: 1\n\n"
        await eventually(lambda: server.closed_by_client == 1)


async def test_a_cancelled_read_loses_nothing() -> None:
    go_on = asyncio.Event()

    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(CHUNKED_HEAD)
        await go_on.wait()
        await conn.send(chunk(b"two") + LAST_CHUNK)
        await conn.hold()

    async with (
        serve(handler) as server,
        client(server.url) as http,
        http.stream("GET", "/stream") as got,
    ):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await got.read_chunk()
        go_on.set()
        assert await got.read_all(100) == b"two"


async def test_the_wait_for_a_pooled_connection_times_out() -> None:
    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.hold()

    async with (
        serve(handler) as server,
        client(server.url, max_connections=1, connect_timeout_s=0.2, timeout_s=5) as http,
    ):
        holder = asyncio.create_task(http.request("GET", "/held"))
        await eventually(lambda: len(server.requests) == 1)
        started = time.monotonic()
        async with raises(UpstreamTimeout):
            await http.request("GET", "/waits")
        assert time.monotonic() - started < 1.5
        holder.cancel()


# --- limits ---


async def test_an_endless_header_block_is_refused() -> None:
    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(b"HTTP/1.1 200 OK\r\n")
        for n in range(100_000):  # 200 MB, were it read
            await conn.send(b"x-pad-%d: %s\r\n" % (n, b"a" * 2000))

    async with (
        serve(handler) as server,
        client(server.url) as http,
        raises(UpstreamUnavailable, match="garbled"),
    ):
        await http.request("GET", "/")
    assert server.bytes_sent[1] < 10_000_000


async def test_an_overlong_header_line_is_refused() -> None:
    head = b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * 100_000 + b"\r\ncontent-length: 0\r\n\r\n"
    async with (
        serve(answer_each(lambda _: head)) as server,
        client(server.url) as http,
        raises(UpstreamUnavailable, match="garbled"),
    ):
        await http.request("GET", "/")


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_over_the_limit_is_refused_without_reading_it_all(framing: str) -> None:
    async def handler(conn: Conn) -> None:
        await conn.read_request()
        if framing == "chunked":
            await conn.send(CHUNKED_HEAD)
            for _ in range(3_000):  # 300 MB, were it read
                await conn.send(chunk(b"a" * 100_000))
        else:
            await conn.send(b"HTTP/1.1 200 OK\r\ncontent-length: 300000000\r\n\r\n")
            for _ in range(3_000):
                await conn.send(b"a" * 100_000)

    async with (
        serve(handler) as server,
        client(server.url, max_body_bytes=1_000_000) as http,
        raises(UpstreamUnavailable, match="more than 1000000 bytes"),
    ):
        await http.request("GET", "/")
    assert server.bytes_sent[1] < 50_000_000


# --- failures ---


async def test_connection_refused_is_unavailable() -> None:
    async with (
        client(f"http://127.0.0.1:{free_port()}") as http,
        raises(UpstreamUnavailable, match="unreachable"),
    ):
        await http.request("GET", "/")


async def test_silence_after_the_headers_times_out_but_a_steady_trickle_does_not() -> None:
    async def handler(conn: Conn) -> None:
        while (request := await conn.read_request()) is not None:
            await conn.send(CHUNKED_HEAD)
            if request.target == "/trickle":
                for _ in range(8):  # 0.4 s in all, longer than the read timeout
                    await asyncio.sleep(0.05)
                    await conn.send(chunk(b"."))
                await conn.send(LAST_CHUNK)
            else:
                await conn.hold()

    async with serve(handler) as server, client(server.url, timeout_s=0.2) as http:
        assert (await http.request("GET", "/trickle")).content == b"." * 8
        async with raises(UpstreamTimeout):
            await http.request("GET", "/silent")


@pytest.mark.parametrize(
    "sent",
    [b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf", CHUNKED_HEAD + chunk(b"half")],
    ids=["content-length", "chunked"],
)
async def test_the_server_closing_mid_body_is_unavailable(sent: bytes) -> None:
    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(sent)

    async with serve(handler) as server, client(server.url) as http, raises(UpstreamUnavailable):
        await http.request("GET", "/")


@pytest.mark.parametrize(
    "sent", [b"NOT HTTP\r\n\r\n", b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n"]
)
async def test_a_malformed_head_is_unavailable(sent: bytes) -> None:
    async with (
        serve(answer_each(lambda _: sent)) as server,
        client(server.url) as http,
        raises(UpstreamUnavailable, match="garbled"),
    ):
        await http.request("GET", "/")
