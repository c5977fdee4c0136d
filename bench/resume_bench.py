"""Resumable answers: what `X-ChatKit-Resumable: 1` costs, in memory and through Redis.

Three chat service processes share one store and one retrieval service (chat_bench's
book, the offline model at zero token delay): `plain` answers without Redis, `shared` and
`other` share resumable answers through a private redis-server. Each round asks the same
questions, each in a thread of its own, three ways (rotating which goes first): plain
ChatKit streaming (the baseline), resumable with the buffer in memory, resumable mirrored
to Redis. Rows: time to the first text delta and to the end of the answer, the chat
process's CPU time per answer (psutil), then what Redis holds per answer (`MEMORY USAGE`
of its keys), the commands it took (`INFO commandstats`), and replaying a finished answer
through the replica that ran it (memory) against another replica (Redis).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import redis

from bench.chat_bench import _ask, _body, _write_book, backends
from bench.config import scaled
from bench.stats import Row, latency_rows, median
from shared.contracts.chat import RESUMABLE_HEADER
from tests.support.processes import ServiceProcess, running
from tests.support.redis_server import RedisServer

N = scaled(30, 5, "BENCH_RESUME_N")
WARMUP = scaled(5, 2)
ROUNDS = scaled(3, 1)
PREFIX = "bench:"


@dataclass
class Side:
    """One way of asking: where, with which headers, and what it measured."""

    name: str
    chat: ServiceProcess
    headers: dict[str, str]
    first_ms: list[float] = field(default_factory=list)
    whole_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    threads: list[tuple[str, str, str]] = field(default_factory=list)
    """(user, thread, run) of every answer, to read back."""


async def _answer(http: httpx.AsyncClient, side: Side, n: int, *, record: bool = True) -> None:
    user = f"bench_{uuid.uuid4().hex[:10]}"
    started = time.perf_counter()
    url = f"{side.chat.url}/chatkit"
    asked = await _ask(http, user, _body(None, n), side.headers, url)
    if record:
        side.first_ms.append(asked.first_ms)
        side.whole_ms.append((time.perf_counter() - started) * 1000)
        side.threads.append((user, asked.thread_id, asked.run_id))


async def _round(sides: list[Side]) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        for side in sides:
            for n in range(WARMUP):
                await _answer(http, side, n, record=False)
            process = psutil.Process(side.chat.process.pid)
            before = process.cpu_times()
            for n in range(N):
                await _answer(http, side, n)
            after = process.cpu_times()
            used = (after.user - before.user) + (after.system - before.system)
            side.cpu_ms.append(used * 1000 / N)


async def _replay_ms(url: str, threads: list[tuple[str, str, str]]) -> list[float]:
    """Time to read each finished answer again from its start, through `url`."""
    samples = []
    async with httpx.AsyncClient(timeout=60) as http:
        for user, thread_id, run_id in threads:
            started = time.perf_counter()
            headers = {"x-user-id": user, "last-event-id": f"{run_id}.0"}
            async with http.stream(
                "GET", f"{url}/chatkit/streams/{thread_id}", headers=headers
            ) as r:
                if r.status_code != 200:
                    raise RuntimeError(f"replay of {thread_id}: {r.status_code}")
                async for _ in r.aiter_raw():
                    pass
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def _calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


@contextmanager
def _chats(book: Path, data: Path, redis_url: str) -> Iterator[tuple[ServiceProcess, ...]]:
    """A chat service without Redis, and two sharing answers through `redis_url`."""
    with backends(book, data) as base, ExitStack() as stack:
        env = base | {
            "CHAT_RESUME_KEEP_S": "600",  # every answer still there to be replayed
            "CHAT_REDIS_URL": "",
            "REDIS_URL": "",
        }
        shared_env = env | {"CHAT_REDIS_URL": redis_url, "CHAT_REDIS_PREFIX": PREFIX}
        yield (
            stack.enter_context(running("chat", env)),
            stack.enter_context(running("chat", shared_env)),
            stack.enter_context(running("chat", shared_env)),
        )


def main() -> list[Row]:
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is not installed (the Redis side needs one)")
    with tempfile.TemporaryDirectory(prefix="resume-bench-") as tmp:
        root = Path(tmp)
        book = _write_book(root / "book")
        server = RedisServer(root / "redis")
        (root / "redis").mkdir()
        server.start()
        try:
            with _chats(book, root / "index", server.url) as (plain, shared, other):
                sides = [
                    Side("plain", plain, {}),
                    Side("in memory", plain, {RESUMABLE_HEADER: "1"}),
                    Side("Redis", shared, {RESUMABLE_HEADER: "1"}),
                ]
                client = server.client()
                calls = _calls(client)
                for round_ in range(ROUNDS):
                    asyncio.run(_round(sides[round_ % 3 :] + sides[: round_ % 3]))
                calls = _calls(client) - calls
                redis_side = sides[2]
                answers = len(redis_side.threads) + WARMUP * ROUNDS
                keys = list(client.scan_iter(match=f"{PREFIX}*", count=1000))
                held = sum(client.memory_usage(key) or 0 for key in keys)
                events = [client.xlen(key) for key in keys if key.endswith(b":events")]
                entries = sum(events) / len(events)
                sample = redis_side.threads[: min(N, 20)]
                local = asyncio.run(_replay_ms(shared.url, sample))
                remote = asyncio.run(_replay_ms(other.url, sample))
        finally:
            server.stop()
    plain_side, memory_side = sides[0], sides[1]
    g = "resume"
    return [
        *latency_rows(
            g,
            "first text delta, resumable (memory) vs plain",
            memory_side.first_ms,
            plain_side.first_ms,
            "p50 within 1.2x",
        ),
        *latency_rows(
            g,
            "first text delta, resumable (Redis) vs plain",
            redis_side.first_ms,
            plain_side.first_ms,
            "p50 within 1.2x",
        ),
        Row(
            g,
            "whole answer p50, resumable (Redis) vs plain",
            median(redis_side.whole_ms),
            "ms",
            median(plain_side.whole_ms),
            max_ratio=1.2,
        ),
        Row(
            g,
            "chat CPU per answer, resumable (memory) vs plain",
            median(memory_side.cpu_ms),
            "ms",
            median(plain_side.cpu_ms),
            max_ratio=1.1,
        ),
        Row(
            g,
            "chat CPU per answer, resumable (Redis) vs plain",
            median(redis_side.cpu_ms),
            "ms",
            median(plain_side.cpu_ms),
            max_ratio=1.25,
        ),
        Row(
            g,
            "Redis memory per finished answer",
            held / answers / 1024,
            "KiB",
            goal="until CHAT_RESUME_KEEP_S after its end",
        ),
        Row(
            g,
            "Redis commands per answer",
            calls / answers,
            "calls",
            goal=f"{len(keys) / answers:.0f} keys, {entries:.0f} stream entries (means)",
        ),
        Row(
            g,
            "replay of a finished answer, another replica (Redis) vs its own (memory) p50",
            median(remote),
            "ms",
            median(local),
            max_ratio=3.0,
        ),
    ]


if __name__ == "__main__":
    from bench.stats import print_table

    print_table(main())
