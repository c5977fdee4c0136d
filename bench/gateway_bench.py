"""Gateway benchmark: SSE streams proxied by the gateway vs read from the upstream directly.

The upstream (the test ChatKit app's firehose: canned ~170-byte ChatKit events) and
the gateway run as separate processes; this process is the client (aiohttp). In one
run, for both paths: events/s with 1 and with 50 concurrent streams, and time to
first byte p50/p99 with 500 concurrent paced streams (first event after 100 ms,
in the upstream too; also through `bench/bare_relay.py`, the least a Python relay
does, to tell the cost of a second process on the path from the gateway's own), plus
the gateway's memory growth per open stream while those 500 are open (in fresh
gateway processes; the bare relay's beside it). Each 500-stream round runs twice: cold
(every client connection new) and warm (keep-alive pools open, the steady state).
Every stream is a distinct reader holding the signed cookie the gateway gave it when
the page loaded, as the web client does.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import aiohttp
import httpx

from bench.config import scaled
from bench.stats import Row, percentile
from services.gateway.auth import CookieSigner, new_anonymous_id
from tests.integration.gateway.upstream import _CANNED
from tests.support.processes import running
from tests.support.servers import free_port

EVENT_BYTES = len(_CANNED)
SINGLE_EVENTS = scaled(200_000, 20_000, "BENCH_GATEWAY_EVENTS")
FANOUT, FANOUT_EVENTS = 50, scaled(10_000, 1_000, "BENCH_GATEWAY_FANOUT_EVENTS")
PACED, PACED_EVENTS, PACED_INTERVAL_MS = 500, scaled(40, 10), 100
PACED_ROUNDS = scaled(3, 1)
COOKIE_SECRET = "bench"
MEMORY_ROUNDS = scaled(3, 1)
MEMORY_EVENTS = 60  # long enough that the first half is still open when the rest opens


def _body(events: int, interval_ms: int = 0) -> bytes:
    return json.dumps(
        {
            "type": "threads.create",
            "metadata": {"bench": {"events": events, "interval_ms": interval_ms}},
            "params": {"input": {"content": [], "attachments": [], "inference_options": {}}},
        }
    ).encode()


@contextmanager
def upstream_process() -> Iterator[tuple[str, int]]:
    """The test upstream as a process of its own: (base URL, pid)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.gateway.upstream", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(url, process)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(30)


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def reader_cookies(count: int) -> list[str]:
    """`Cookie` headers of `count` distinct readers, as the gateway signs them when a
    browser loads the page (the web client always loads `/` before it asks anything)."""
    signer = CookieSigner(COOKIE_SECRET.encode(), max_age_s=86400)
    return [f"chatkit_uid={signer.cookie_value(new_anonymous_id())}" for _ in range(count)]


async def _stream(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    cookie: str,
    on_first_byte: Callable[[], None] | None = None,
) -> tuple[int, float]:
    """Bytes of the answer and the time to its first byte (s)."""
    started = time.perf_counter()
    first = 0.0
    total = 0
    headers = {"content-type": "application/json", "cookie": cookie}
    async with session.post(f"{url}/chatkit", data=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        async for chunk in response.content.iter_any():
            if not first:
                first = time.perf_counter() - started
                if on_first_byte is not None:
                    on_first_byte()
            total += len(chunk)
    return total, first


async def _throughput(url: str, streams: int, events: int) -> float:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        cookies = reader_cookies(streams)
        await _stream(session, url, _body(100), cookies[0])  # warm the connection and path
        started = time.perf_counter()
        results = await asyncio.gather(
            *(_stream(session, url, _body(events), cookie) for cookie in cookies)
        )
        elapsed = time.perf_counter() - started
    received = sum(total for total, _ in results) // EVENT_BYTES
    assert received == streams * events, f"{received} of {streams * events} events"
    return received / elapsed


async def _paced(session: aiohttp.ClientSession, url: str) -> list[float]:
    """TTFB samples (ms) of PACED concurrent paced streams."""
    body = _body(PACED_EVENTS, PACED_INTERVAL_MS)
    results = await asyncio.gather(
        *(_stream(session, url, body, cookie) for cookie in reader_cookies(PACED))
    )
    return [first * 1000 for _, first in results]


async def _paced_rounds(url: str) -> tuple[list[float], list[float]]:
    """A cold round (new client connections), then a warm one (keep-alive pools open)."""
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        return await _paced(session, url), await _paced(session, url)


@contextmanager
def bare_relay_process(upstream: str) -> Iterator[tuple[str, int]]:
    """`bench/bare_relay.py` in front of `upstream` as a process of its own: (URL, pid)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_relay", "--port", str(port), "--upstream", upstream],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(url, process)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(30)


def _wait_until_answering(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=1)  # any answer: it is listening
            return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"the bench process for {url} did not start")
        time.sleep(0.1)


async def _measure(direct: str, gateway: str, bare: str) -> list[Row]:
    rows: list[Row] = []
    for streams, events in ((1, SINGLE_EVENTS), (FANOUT, FANOUT_EVENTS)):
        base = await _throughput(direct, streams, events)
        value = await _throughput(gateway, streams, events)
        rows.append(
            Row("gateway", f"events/s, {streams} stream(s)", value, "ev/s", base, min_ratio=0.8)
        )
    # One burst's p99 swings with whatever else the machine does, so the warm round runs
    # PACED_ROUNDS times, direct and proxied interleaved, and each percentile is the median
    # over rounds. Cold is the first round only: the gateway's pool is empty just once.
    warm: dict[str, list[list[float]]] = {"direct": [], "bare relay": [], "gateway": []}
    cold: dict[str, list[float]] = {}
    for round_ in range(PACED_ROUNDS):
        for name, url in (("direct", direct), ("bare relay", bare), ("gateway", gateway)):
            first, again = await _paced_rounds(url)
            warm[name].append(again)
            if round_ == 0:
                cold[name] = first

    def median_p(name: str, p: int) -> float:
        return statistics.median(percentile(samples, p) for samples in warm[name])

    label = f"{PACED} paced streams"
    for p in (50, 99):
        rows.append(
            Row(
                "gateway",
                f"TTFB p{p}, {label}, warm pools (median of {PACED_ROUNDS})",
                median_p("gateway", p),
                "ms",
                median_p("direct", p),
                max_ratio=1.3 if p == 99 else None,
            )
        )
    # The floor of any relay in Python: the same round through `bench/bare_relay.py`.
    rows.append(
        Row(
            "gateway",
            f"TTFB p99, {label}, warm, a bare aiohttp relay (vs direct)",
            median_p("bare relay", 99),
            "ms",
            median_p("direct", 99),
        )
    )
    rows.append(
        Row(
            "gateway",
            f"TTFB p99, {label}, warm, gateway vs the bare relay",
            median_p("gateway", 99),
            "ms",
            median_p("bare relay", 99),
        )
    )
    rows.append(
        Row(
            "gateway",
            f"TTFB p99, {label}, cold (first round)",
            percentile(cold["gateway"], 99),
            "ms",
            percentile(cold["direct"], 99),
        )
    )
    return rows


async def _memory_round(url: str, pid: int) -> float:
    """Marginal gateway RSS per open stream, KB: the growth from PACED/2 to PACED open
    streams over the PACED/2 added, so one-time costs (first imports, pools, arenas) and
    the idle process are left out."""
    opened, target, all_open = 0, 0, asyncio.Event()

    def count_open() -> None:
        nonlocal opened
        opened += 1
        if opened == target:
            all_open.set()

    async def rss_when_open(count: int) -> int:
        nonlocal target
        target = count
        all_open.clear()
        if opened < count:
            await all_open.wait()
        await asyncio.sleep(0.2)
        return _rss_kb(pid)

    half, body, cookies = PACED // 2, _body(MEMORY_EVENTS, PACED_INTERVAL_MS), reader_cookies(PACED)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await _stream(session, url, _body(1), cookies[0])

        def start(readers: list[str]) -> list[asyncio.Future[tuple[int, float]]]:
            return [
                asyncio.ensure_future(_stream(session, url, body, cookie, count_open))
                for cookie in readers
            ]

        tasks = start(cookies[:half])
        at_half = await rss_when_open(half)
        tasks += start(cookies[half:])
        at_full = await rss_when_open(PACED)
        assert not any(t.done() for t in tasks[:half]), "streams ended before all were open"
        await asyncio.gather(*tasks)
    return (at_full - at_half) / (PACED - half)


def main() -> list[Row]:
    with upstream_process() as (upstream, _), bare_relay_process(upstream) as (bare, _):
        env = gateway_env(upstream)
        with running("gateway", env) as gateway:
            rows = asyncio.run(_measure(upstream, gateway.url, bare))
    # RSS is noisy (allocator arenas, GC timing): the median over fresh processes. The
    # baseline is the upstream itself, a plain Starlette SSE endpoint on uvicorn.
    gateway_kb, upstream_kb, bare_kb = [], [], []
    for _ in range(MEMORY_ROUNDS):
        with upstream_process() as (upstream, upstream_pid):
            upstream_kb.append(asyncio.run(_memory_round(upstream, upstream_pid)))
            with bare_relay_process(upstream) as (bare, bare_pid):
                bare_kb.append(asyncio.run(_memory_round(bare, bare_pid)))
            with running("gateway", gateway_env(upstream)) as gateway:
                gateway_kb.append(asyncio.run(_memory_round(gateway.url, gateway.process.pid)))
    rows.append(
        Row(
            "gateway",
            f"RSS per open stream, {PACED // 2} -> {PACED} open (vs the upstream app)",
            statistics.median(gateway_kb),
            "KB",
            statistics.median(upstream_kb),
            max_ratio=1.5,
        )
    )
    rows.append(
        Row(
            "gateway",
            "RSS per open stream, a bare aiohttp relay (vs the upstream app)",
            statistics.median(bare_kb),
            "KB",
            statistics.median(upstream_kb),
        )
    )
    return rows


def gateway_env(upstream: str) -> dict[str, str]:
    """A gateway in front of `upstream` with limits out of the way."""
    return {
        "GATEWAY_CHAT_URL": upstream,
        "GATEWAY_LOG_LEVEL": "warning",
        "GATEWAY_COOKIE_SECRET": COOKIE_SECRET,
        "GATEWAY_REDIS_URL": "",
        "GATEWAY_IP_BURST": "100000000",
        "GATEWAY_IP_RATE_PER_S": "1000000",
        "GATEWAY_USER_BURST": "100000000",
        "GATEWAY_MAX_STREAMS_PER_USER": "100000",
        "GATEWAY_MAX_STREAMS_PER_ADDRESS": "100000",
        "GATEWAY_MAX_STREAMS_TOTAL": "100000",
        "GATEWAY_ANON_MINT_BURST": "100000000",
    }


if __name__ == "__main__":
    from bench.stats import print_table

    print_table(main())
