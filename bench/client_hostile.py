"""Hostile upstreams for `bench/client_bench.py`: raw asyncio servers
(`tests.support.raw_http`) that write exact bytes. Each check is 1 (safe) or 0."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from bench.client_candidates import Candidate, Make
from tests.support import raw_http

EVIL = b"HTTP/1.1 403 Forbidden\r\ncontent-length: 5\r\n\r\nEVIL!"
SMUGGLING = raw_http.answer_each(lambda _: raw_http.ok(b"ok") + EVIL)
"""Every answer with another one after it, in the same write."""


@asynccontextmanager
async def against(
    handler: raw_http.Handler, make: Make
) -> AsyncIterator[tuple[raw_http.RawServer, Candidate]]:
    """A raw server running `handler`, and a candidate client of it."""
    async with raw_http.serve(handler) as server:
        client = make(server.url)
        try:
            yield server, client
        finally:
            await client.aclose()


async def smuggled(make: Make) -> bool:
    """Bytes after a complete answer, in the same write, are neither it nor the next one."""
    async with against(SMUGGLING, make) as (_, client):
        return [await client.get("/"), await client.get("/")] == [(200, b"ok")] * 2


async def unsolicited(make: Make) -> bool:
    """An answer written on an idle pooled connection is not handed to the next request."""
    pooled, injected = asyncio.Event(), asyncio.Event()

    async def handler(conn: raw_http.Conn) -> None:
        while await conn.read_request() is not None:
            await conn.send(raw_http.ok(b"fresh" if conn.index > 1 else b"ok"))
            if conn.index == 1:
                await pooled.wait()
                await conn.send(EVIL)
                injected.set()

    async with against(handler, make) as (_, client):
        first = await client.get("/")
        pooled.set()
        await injected.wait()
        await asyncio.sleep(0.1)  # the stray answer has reached the idle connection
        return (first, (await client.get("/"))[0]) == ((200, b"ok"), 200)


async def endless_head(make: Make) -> bool:
    """A header block that never ends (200 MB, were it read) is refused within 10 MB."""

    async def handler(conn: raw_http.Conn) -> None:
        await conn.read_request()
        await conn.send(b"HTTP/1.1 200 OK\r\n")
        for n in range(100_000):
            await conn.send(b"x-pad-%d: %s\r\n" % (n, b"a" * 2000))

    return await _refused(handler, make, 10_000_000)


async def huge_body(make: Make) -> bool:
    """A 300 MB chunked body read with a 1 MiB limit is refused within 50 MB."""

    async def handler(conn: raw_http.Conn) -> None:
        await conn.read_request()
        await conn.send(raw_http.CHUNKED_HEAD)
        for _ in range(3_000):
            await conn.send(raw_http.chunk(b"a" * 100_000))

    return await _refused(handler, make, 50_000_000)


async def _refused(handler: raw_http.Handler, make: Make, max_sent: int) -> bool:
    """Whether a GET fails (before our 20 s bound) while the server sends at most
    `max_sent` bytes, also in the 5 s after (a client that drains the rest is unsafe)."""
    async with against(handler, make) as (server, client):
        try:
            async with asyncio.timeout(20) as bound:
                await client.get("/")
            return False
        except Exception:
            if bound.expired():
                return False
        await asyncio.wait(server.tasks, timeout=5)
        return server.bytes_sent.get(1, 0) <= max_sent


Check = Callable[[Make], Awaitable[bool]]
"""Whether a candidate (made on the server's URL) is safe."""
HOSTILE: dict[str, Check] = {
    "smuggled after an answer": smuggled,
    "unsolicited on an idle conn": unsolicited,
    "endless header block": endless_head,
    "300 MB body, 1 MiB limit": huge_body,
}
