"""Client benchmark: the candidates for the internal HTTP client, side by side in one run.

Candidates (`bench/client_candidates.py`): aiohttp as it comes; `shared.http.ServiceHttp`
(aiohttp with our pool guard and its own client span, which is a no-op as in the
services when tracing is off); httpx2; pyreqwest. All run on uvloop against one upstream
process (`bench.client_upstream`: uvicorn with uvloop and httptools, as the services run).
Measured: p50/p99 of sequential ~1 KB JSON POSTs (as the store's `add_thread_item`) and
POSTs/s with 32 concurrent callers, in rounds that interleave the candidates so machine
noise hits them alike; client RSS per open SSE stream (growth from half to all open, a
fresh process per candidate, median of rounds). Ratios are to raw aiohttp. Then hostile
upstreams (`bench/client_hostile.py`) and the cancel of busy stream reads as rows of
1 (safe) or 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from functools import partial
from typing import Any

import psutil
import uvloop

from bench.client_candidates import CANDIDATES, OURS, Candidate, Make
from bench.client_hostile import HOSTILE, Check
from bench.client_upstream import running
from bench.config import scaled
from bench.stats import Row, median, percentile, time_calls

CALLS, ROUNDS = scaled(400, 40, "BENCH_CLIENT_CALLS"), scaled(8, 2)
CALLERS, CALLS_EACH = 32, scaled(60, 10)
STREAMS, MEMORY_ROUNDS = scaled(500, 100), scaled(3, 1)
ITEM = {"id": "msg_0123456789abcdef", "thread_id": "thr_0123456789abcdef", "type": "user_message"}
BODY = json.dumps({"item": ITEM | {"text": "A question about chapter 3. " * 34}}).encode()
STREAM_BODY = json.dumps({"interval_s": 0.5}).encode()
BUSY_STREAM_BODY = json.dumps({"interval_s": 0.01}).encode()
Task = asyncio.Task[Any]


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


async def _open(
    client: Candidate, body: bytes, tasks: list[Task], opened: set[int], count: int
) -> None:
    """Start streams until `count` run, and wait until each has had its first chunk."""
    tasks += [
        asyncio.create_task(client.sse("/stream", body, partial(opened.add, n)))
        for n in range(len(tasks), count)
    ]
    while len(opened) < count:
        if ended := [task for task in tasks if task.done()]:
            raise RuntimeError(f"a stream ended early: {ended[0].exception()!r}")
        await asyncio.sleep(0.05)


def memory_kb(name: str, url: str) -> float:
    """Client RSS growth per open stream from STREAMS/2 to STREAMS, in a fresh process."""
    code = f"import bench.client_bench as b; b.measure_memory({name!r}, {url!r})"
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=300, check=True)
    return float(done.stdout.split()[-1])


def measure_memory(name: str, url: str) -> None:
    """`memory_kb`'s child: prints the number and exits at once, closing nothing (a
    pyreqwest stream can outlive its cancel: see `cancelled_reads`)."""
    uvloop.run(_memory(CANDIDATES[name], url))


async def _memory(make: Make, url: str) -> None:
    client, tasks, opened, rss = make(url), list[Task](), set[int](), []
    for count in (STREAMS // 2, STREAMS):
        await _open(client, STREAM_BODY, tasks, opened, count)
        await asyncio.sleep(1.0)  # a couple of events on every stream
        rss.append(psutil.Process().memory_info().rss)
    print((rss[1] - rss[0]) / (STREAMS - STREAMS // 2) / 1024, flush=True)
    os._exit(0)


async def cancelled_reads(make: Make, url: str) -> bool:
    """Cancelling the pending read of a busy stream ends it (the relay's case when a
    browser hangs up): 3 times, 100 streams with an event every 10 ms, all cancelled."""
    client, safe = make(url), True
    try:
        for _ in range(3):
            tasks: list[Task] = []
            await _open(client, BUSY_STREAM_BODY, tasks, set(), 100)
            for task in tasks:
                task.cancel()
            _, pending = await asyncio.wait(tasks, timeout=2)
            safe = safe and not pending
            for _ in range(5):  # cancel again what outlived its cancel, to go on clean
                if not pending:
                    break
                for task in pending:
                    task.cancel()
                _, pending = await asyncio.wait(pending, timeout=2)
        return safe
    finally:
        await client.aclose()


async def _hostile(url: str) -> list[Row]:
    """The `HOSTILE` checks, and `cancelled_reads` against the upstream at `url`."""
    rows = []
    checks: dict[str, Check] = {
        **HOSTILE,
        "cancelled busy read ends": partial(cancelled_reads, url=url),
    }
    for check, run in checks.items():
        for name, make in CANDIDATES.items():
            try:
                safe = await run(make)
            except Exception:  # not the answers asked for: as unsafe as a wrong one
                safe = False
            goal = "must be 1" if name == OURS else ""
            rows.append(Row("client", f"safe: {check}, {name}", float(safe), "1 = safe", goal=goal))
    return rows


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
    with running() as url:
        latency, rates = uvloop.run(_speed(url))
        memory: dict[str, list[float]] = {name: [] for name in CANDIDATES}
        for _ in range(MEMORY_ROUNDS):
            for name in CANDIDATES:
                memory[name].append(memory_kb(name, url))
        hostile = uvloop.run(_hostile(url))
    p50, p99 = ({n: percentile(v, p) for n, v in latency.items()} for p in (50, 99))
    rate, kb = ({n: median(v) for n, v in values.items()} for values in (rates, memory))
    posts = f"POST ~1 KB, {CALLS * ROUNDS} sequential"
    return [
        *_rows(f"{posts}, p50", "ms", p50, max_ratio=1.25),
        *_rows(f"{posts}, p99", "ms", p99),
        *_rows(f"POSTs/s, {CALLERS} callers", "/s", rate, min_ratio=0.8),
        *_rows(f"RSS per SSE stream, {STREAMS // 2} -> {STREAMS}", "KB", kb, max_ratio=1.5),
        *hostile,
    ]


if __name__ == "__main__":
    from bench.stats import print_table

    print_table(main())
