"""A raw HTTP/1.1 server for client tests: it writes exact bytes, so packet splits,
silences and broken or hostile answers are under the test's control."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import pytest


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
            self.server.bytes_sent[self.index] = self.server.bytes_sent.get(self.index, 0) + len(
                part
            )
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
        self.bytes_sent: dict[int, int] = {}
        """Bytes written on each connection, by its index (1 for the first)."""
        self.port = 0
        self.stopping = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: list[asyncio.StreamWriter] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

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
