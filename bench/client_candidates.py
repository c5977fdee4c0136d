"""The HTTP clients `bench/client_bench.py` compares, each behind the same small interface.

Each is set up as a service would use it: one shared client per upstream, a pool large
enough for every open stream, JSON bodies, and the body read in chunks as they come.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

import aiohttp
import httpx2
from pyreqwest.client import ClientBuilder

from shared.http import ServiceHttp

LIMIT = 1024 * 1024
"""The body limit of `Candidate.get`."""
POOL = 1000
JSON = {"content-type": "application/json"}
Answer = tuple[int, AsyncIterator[bytes]]
"""An answer as it comes: its status, and its body in chunks."""


async def bounded(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The body from `chunks`, refused (ValueError) once it passes `limit` bytes."""
    parts, size = [], 0
    async for part in chunks:
        size += len(part)
        if size > limit:
            raise ValueError(f"more than {limit} bytes")
        parts.append(part)
    return b"".join(parts)


async def _chunks(read: Callable[[], Awaitable[Any]]) -> AsyncIterator[bytes]:
    while part := await read():  # b"" (ServiceHttp) or None (pyreqwest) at the end
        yield bytes(part)


class Candidate(ABC):
    """One client of one base URL, made inside the running loop."""

    @abstractmethod
    async def post(self, path: str, body: bytes) -> bytes:
        """The whole answer to a JSON POST, read the library's usual way."""

    @abstractmethod
    def stream(
        self, method: str, path: str, body: bytes | None
    ) -> AbstractAsyncContextManager[Answer]: ...

    @abstractmethod
    async def aclose(self) -> None: ...

    async def get(self, path: str) -> tuple[int, bytes]:
        """Status and body of a GET, the body refused past LIMIT bytes."""
        async with self.stream("GET", path, None) as (status, chunks):
            return status, await bounded(chunks, LIMIT)

    async def sse(self, path: str, body: bytes, seen: Callable[[], None]) -> None:
        """Read a streamed answer to its end, calling `seen()` on each chunk."""
        async with self.stream("POST", path, body) as (_, chunks):
            async for _ in chunks:
                seen()


class Aiohttp(Candidate):
    def __init__(self, url: str) -> None:
        self.session = aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=POOL))

    async def post(self, path: str, body: bytes) -> bytes:
        async with self.session.post(path, data=body, headers=JSON) as response:
            return await response.read()

    @asynccontextmanager
    async def stream(self, method: str, path: str, body: bytes | None) -> AsyncIterator[Answer]:
        async with self.session.request(method, path, data=body, headers=JSON) as response:
            yield response.status, response.content.iter_any()

    async def aclose(self) -> None:
        await self.session.close()


class Ours(Candidate):
    """`shared.http.ServiceHttp`: aiohttp with our pool guard and its client span."""

    def __init__(self, url: str) -> None:
        self.http = ServiceHttp(url, service="bench", token=None, max_connections=POOL)

    async def post(self, path: str, body: bytes) -> bytes:
        return (await self.http.request("POST", path, body=body)).content

    @asynccontextmanager
    async def stream(self, method: str, path: str, body: bytes | None) -> AsyncIterator[Answer]:
        async with self.http.stream(method, path, body=body) as got:
            yield got.status, _chunks(got.read_chunk)

    async def get(self, path: str) -> tuple[int, bytes]:
        async with self.http.stream("GET", path) as got:  # its own bounded read
            return got.status, await got.read_all(LIMIT)

    async def aclose(self) -> None:
        await self.http.aclose()


class Httpx2(Candidate):
    def __init__(self, url: str) -> None:
        limits = httpx2.Limits(max_connections=POOL, max_keepalive_connections=POOL)
        self.client = httpx2.AsyncClient(base_url=url, limits=limits, timeout=30)

    async def post(self, path: str, body: bytes) -> bytes:
        return (await self.client.post(path, content=body, headers=JSON)).content

    @asynccontextmanager
    async def stream(self, method: str, path: str, body: bytes | None) -> AsyncIterator[Answer]:
        async with self.client.stream(method, path, content=body, headers=JSON) as response:
            yield response.status_code, response.aiter_raw()

    async def aclose(self) -> None:
        await self.client.aclose()


class Pyreqwest(Candidate):
    def __init__(self, url: str) -> None:
        self.client = ClientBuilder().base_url(url).read_timeout(timedelta(seconds=30)).build()

    async def post(self, path: str, body: bytes) -> bytes:
        response = await self.client.post(path).headers(JSON).body_bytes(body).build().send()
        return bytes(await response.bytes())

    @asynccontextmanager
    async def stream(self, method: str, path: str, body: bytes | None) -> AsyncIterator[Answer]:
        request = self.client.request(method, path).headers(JSON).body_bytes(body or b"")
        # Without a zero limit, build_streamed() waits to buffer 64 KiB before it yields.
        async with request.streamed_read_buffer_limit(0).build_streamed() as response:
            yield response.status, _chunks(response.body_reader.read_chunk)

    async def aclose(self) -> None:
        await self.client.close()


Make = Callable[[str], Candidate]
OURS = "ServiceHttp"
CANDIDATES: dict[str, Make] = {
    "aiohttp": Aiohttp,
    OURS: Ours,
    "httpx2": Httpx2,
    "pyreqwest": Pyreqwest,
}
"""By the name in the table; raw aiohttp is the baseline."""
