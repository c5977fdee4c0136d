"""Client benchmark: the candidates for the internal HTTP client, side by side in one run.

Candidates (`bench/client_candidates.py`): aiohttp as it comes; `shared.http.ServiceHttp`
(aiohttp with our pool guard and its own client span, which is a no-op as in the
services when tracing is off); httpx2; pyreqwest. All run on uvloop against one upstream
process (`bench.client_upstream`: uvicorn with uvloop and httptools, as the services run).
Measured: p50/p99 of sequential ~1 KB JSON POSTs (as the store's `add_thread_item`) and
POSTs/s with 32 concurrent callers, in rounds that interleave the candidates so machine
noise hits them alike; client RSS per open SSE stream (growth from half to all open, a
fresh process per candidate, median of rounds). Ratios are to raw aiohttp. Then hostile
upstreams (raw asyncio servers, `HOSTILE`) as rows of 1 (safe) or 0.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from functools import partial

import httpx
import psutil
import uvloop

from bench.client_candidates import CANDIDATES, OURS, Candidate, Make
from bench.config import scaled
from bench.stats import Row, median, percentile, time_calls
from tests.support import raw_http
from tests.support.servers import free_port

CALLS, ROUNDS = scaled(400, 40, "BENCH_CLIENT_CALLS"), scaled(8, 2)
CALLERS, CALLS_EACH = 32, scaled(60, 10)
STREAMS, MEMORY_ROUNDS = scaled(500, 100), scaled(3, 1)
ITEM = {"id": "msg_0123456789abcdef", "thread_id": "thr_0123456789abcdef", "type": "user_message"}
BODY = json.dumps({"item": ITEM | {"text": "A question about chapter 3. " * 34}}).encode()
STREAM_BODY = json.dumps({"interval_s": 0.5}).encode()
EVIL = b"HTTP/1.1 403 Forbidden\r\ncontent-length: 5\r\n\r\nEVIL!"
SMUGGLING = raw_http.answer_each(lambda _: raw_http.ok(b"ok") + EVIL)
"""Every answer with another one after it, in the same write."""


async def _speed(url: str) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Latency samples (ms) and POSTs/s of each round, by candidate, rounds interleaved."""
    clients = {name: make(url) for name, make in CANDIDATES.items()}
    latency: dict[str, list[float]] = {name: [] for name in clients}
    rates: dict[str, list[float]] = {name: [] for name in clients}

    async def caller(client: Candidate) -> None:
        for _ in range(CALLS_EACH):
            await client.post("/items", BODY)

    try:
        for round_ in range(ROUNDS):
            names = [*clients][round_ % len(clients) :] + [*clients][: round_ % len(clients)]
            for name in names:
                client = clients[name]
                latency[name] += await time_calls(partial(client.post, "/items", BODY), CALLS)
                started = time.perf_counter()
                await asyncio.gather(*(caller(client) for _ in range(CALLERS)))
                rates[name].append(CALLERS * CALLS_EACH / (time.perf_counter() - started))
    finally:
        await asyncio.gather(*(client.aclose() for client in clients.values()))
    return latency, rates


def memory_kb(name: str, url: str) -> float:
    """In a fresh process: client RSS growth per open stream, from STREAMS/2 to STREAMS."""
    return uvloop.run(_memory(CANDIDATES[name], url))


async def _memory(make: Make, url: str) -> float:
    client, opened, tasks = make(url), set[int](), list[asyncio.Task[None]]()

    async def rss_with(count: int) -> int:
        tasks.extend(
            asyncio.create_task(client.sse("/stream", STREAM_BODY, partial(opened.add, n)))
            for n in range(len(tasks), count)
        )
        while len(opened) < count:
            for task in tasks:
                if task.done():
                    raise RuntimeError(f"a stream ended early: {task.exception()!r}")
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # a couple of events on every stream
        return int(psutil.Process().memory_info().rss)

    try:
        at_half = await rss_with(STREAMS // 2)
        return (await rss_with(STREAMS) - at_half) / (STREAMS - STREAMS // 2) / 1024
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.aclose()


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


HOSTILE: dict[str, Callable[[Make], Awaitable[bool]]] = {
    "smuggled after an answer": smuggled,
    "unsolicited on an idle conn": unsolicited,
    "endless header block": endless_head,
    "300 MB body, 1 MiB limit": huge_body,
}


async def _hostile() -> list[Row]:
    rows = []
    for check, run in HOSTILE.items():
        for name, make in CANDIDATES.items():
            try:
                safe = await run(make)
            except Exception:  # not the answers asked for: as unsafe as a wrong one
                safe = False
            goal = "must be 1" if name == OURS else ""
            rows.append(Row("client", f"safe: {check}, {name}", float(safe), "1 = safe", goal=goal))
    return rows


@contextmanager
def upstream() -> Iterator[str]:
    """`bench.client_upstream` as a process of its own; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "bench.client_upstream", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the client bench upstream did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def _rows(
    metric: str,
    unit: str,
    values: dict[str, float],
    max_ratio: float | None = None,
    min_ratio: float | None = None,
) -> list[Row]:
    """A row per candidate, raw aiohttp as baseline; the ratio goal is ServiceHttp's."""
    rows = {
        n: Row("client", f"{metric}, {n}", v, unit, values["aiohttp"]) for n, v in values.items()
    }
    rows[OURS] = replace(rows[OURS], max_ratio=max_ratio, min_ratio=min_ratio)
    return list(rows.values())


def main() -> list[Row]:
    with upstream() as url:
        latency, rates = uvloop.run(_speed(url))
        memory: dict[str, list[float]] = {name: [] for name in CANDIDATES}
        spawn = multiprocessing.get_context("spawn")
        for _ in range(MEMORY_ROUNDS):
            for name in CANDIDATES:
                with ProcessPoolExecutor(1, mp_context=spawn) as fresh:
                    memory[name].append(fresh.submit(memory_kb, name, url).result())
    p50, p99 = ({n: percentile(v, p) for n, v in latency.items()} for p in (50, 99))
    rate, kb = ({n: median(v) for n, v in values.items()} for values in (rates, memory))
    posts = f"POST ~1 KB, {CALLS * ROUNDS} sequential"
    return [
        *_rows(f"{posts}, p50", "ms", p50, max_ratio=1.25),
        *_rows(f"{posts}, p99", "ms", p99),
        *_rows(f"POSTs/s, {CALLERS} callers", "/s", rate, min_ratio=0.8),
        *_rows(f"RSS per SSE stream, {STREAMS // 2} -> {STREAMS}", "KB", kb, max_ratio=1.5),
        *uvloop.run(_hostile()),
    ]


if __name__ == "__main__":
    from bench.stats import print_table

    print_table(main())
