"""End to end through the gateway vs the one-process monolith, and each service's memory.

    python -m bench.platform_bench

Starts the four services as real processes (`tests/support/stack.py`: PostgreSQL from
TEST_DATABASE_URL or embedded, Redis when REDIS_URL is set, the demo book, offline model
at zero token delay) and the monolith (`bench/monolith`: the same chat app and agent, an
in-memory store and in-process search of the same book) under uvicorn in a process of
its own. The book is indexed once beforehand and each side starts from a copy, so
neither embeds it at start-up (which would weigh on its idle RSS).

At 1, 32 and 128 concurrent conversations, in rounds that alternate the two sides and
which goes first (ABBA...), so that a change in the machine's load during the run weighs
on both alike: time from sending a request to the first
`assistant_message.content_part.text_delta` event (p50/p99, samples of every round) and
answers/s (all answers of a side over its time in all rounds). Each conversation is a new
user and thread of TURNS answers. RSS of every service: idle (ready, warmed up, nothing
in flight) and the peak during the 128-conversation rounds, sampled from a background
thread.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.config import scaled
from bench.conversations import (
    Level,
    Target,
    check_grounded,
    client_session,
    conversation,
    run_level,
)
from bench.monolith.process import monolith_process
from bench.rss import peak_rss, snapshot
from bench.stats import Row, latency_rows
from tests.support.postgres import admin_url, fresh_database
from tests.support.stack import BOOK, platform

SERVICES = ("gateway", "chat", "retrieval", "store")
CORPUS = "default"  # the corpus the stack's chat service asks
TURNS = scaled(4, 2, "BENCH_E2E_TURNS")
# (concurrent conversations, conversations each worker holds in a row per round, rounds)
LEVELS = [(1, scaled(8, 3), scaled(3, 1)), (32, 1, scaled(3, 1)), (128, 1, scaled(2, 1))]
PEAK_LEVEL = 128
# Every client is 127.0.0.1: only the per-IP limits are lifted; per-user ones stay.
GATEWAY_ENV = {
    "GATEWAY_IP_BURST": "100000000",
    "GATEWAY_IP_RATE_PER_S": "1000000",
    "GATEWAY_MAX_STREAMS_PER_ADDRESS": "100000",
    "GATEWAY_MAX_STREAMS_TOTAL": "100000",
    "GATEWAY_ANON_MINT_BURST": "100000000",
}


def _build_index(data_dir: Path) -> None:
    """Index the book into `data_dir` with the ingest CLI (Redis cache if REDIS_URL is set)."""
    env = {**os.environ, "RETRIEVAL_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "services.retrieval.ingest", str(BOOK), "--quiet"]
    subprocess.run(
        [*command, "--corpus", CORPUS], env=env, check=True, capture_output=True, timeout=600
    )


@dataclass
class Side:
    """One side's measurements: levels by concurrency, idle and peak RSS by process."""

    levels: dict[int, Level] = field(default_factory=dict)
    idle: dict[str, float] = field(default_factory=dict)
    peak: dict[str, float] = field(default_factory=dict)


async def _warm(session: aiohttp.ClientSession, target: Target) -> None:
    """A few conversations first, so imports, pools and caches are in place."""
    await check_grounded(session, target)
    await asyncio.gather(*(conversation(session, target, 3, seed=s) for s in range(4)))


async def _measure(targets: dict[str, Target], pids: dict[str, dict[str, int]]) -> dict[str, Side]:
    sides = {name: Side() for name in targets}
    async with client_session() as session:
        for target in targets.values():
            await _warm(session, target)
        await asyncio.sleep(1)
        for name, side in sides.items():
            side.idle = snapshot(pids[name])
        for concurrency, each, rounds in LEVELS:
            done: dict[str, list[Level]] = {name: [] for name in targets}
            peaks: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
            for turn in range(rounds):
                names = list(targets) if turn % 2 == 0 else list(reversed(targets))
                for name in names:
                    print(f"  {name}: {concurrency} concurrent conversations", flush=True)
                    level, peak = await _run(session, targets[name], concurrency, each, pids[name])
                    done[name].append(level)
                    peaks[name].append(peak)
            for name, levels in done.items():
                sides[name].levels[concurrency] = _pooled(levels)
                if concurrency == PEAK_LEVEL:
                    sides[name].peak = _max_peaks(peaks[name])
    return sides


async def _run(
    session: aiohttp.ClientSession,
    target: Target,
    concurrency: int,
    each: int,
    pids: dict[str, int],
) -> tuple[Level, dict[str, float]]:
    """One round of one side; at the peak level also its processes' peak RSS."""
    if concurrency != PEAK_LEVEL:
        return await run_level(session, target, concurrency, each, TURNS), {}
    with peak_rss(pids) as peaks:
        level = await run_level(session, target, concurrency, each, TURNS)
    return level, peaks


def _pooled(levels: list[Level]) -> Level:
    """Rounds of one side as one: their samples, and answers over the time of all."""
    samples = [ms for level in levels for ms in level.ttft_ms]
    seconds = sum(len(level.ttft_ms) / level.answers_per_s for level in levels)
    return Level(levels[0].concurrency, samples, len(samples) / seconds)


def _max_peaks(peaks: Iterable[dict[str, float]]) -> dict[str, float]:
    """Each process's highest peak over the rounds."""
    highest: dict[str, float] = {}
    for one in peaks:
        for name, mib in one.items():
            highest[name] = max(mib, highest.get(name, 0.0))
    return highest


def _rows(platform_side: Side, monolith: Side) -> list[Row]:
    rows: list[Row] = []
    for concurrency, _, _ in LEVELS:
        ours, base = platform_side.levels[concurrency], monolith.levels[concurrency]
        label = f"{concurrency} conv."
        rows += latency_rows(
            "e2e", f"first text delta, {label}, gateway vs monolith", ours.ttft_ms, base.ttft_ms
        )
        rows.append(
            Row(
                "e2e",
                f"answers/s, {label}, gateway vs monolith",
                ours.answers_per_s,
                "answers/s",
                base.answers_per_s,
                min_ratio=0.9 if concurrency >= 32 else None,
            )
        )
    for name in SERVICES:
        idle, peak = platform_side.idle[name], platform_side.peak.get(name, 0.0)
        rows.append(Row("memory", f"{name} RSS idle", idle, "MiB"))
        rows.append(
            Row("memory", f"{name} RSS peak, {PEAK_LEVEL} conv. (vs idle)", peak, "MiB", idle)
        )
    rows.append(
        Row(
            "memory",
            "4 services RSS idle (vs monolith)",
            sum(platform_side.idle.values()),
            "MiB",
            monolith.idle["monolith"],
        )
    )
    rows.append(
        Row(
            "memory",
            f"4 services RSS peaks, {PEAK_LEVEL} conv. (vs monolith)",
            sum(platform_side.peak.values()),
            "MiB",
            monolith.peak.get("monolith"),
        )
    )
    return rows


def bench_rows() -> list[Row]:
    """Start the stack and the monolith, measure both, stop everything."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="platform-bench-")))
        redis_url = os.environ.get("REDIS_URL") or None
        admin = stack.enter_context(admin_url())
        database = stack.enter_context(fresh_database(admin))
        _build_index(tmp / "index")
        for copy in ("retrieval", "monolith"):  # the stack's retrieval uses tmp / "retrieval"
            shutil.copytree(tmp / "index", tmp / copy)
        services = stack.enter_context(
            platform(
                tmp,
                database_url=database,
                redis_url=redis_url,
                token_delay_ms=0,
                extra_env={"gateway": GATEWAY_ENV},
            )
        )
        mono = stack.enter_context(
            monolith_process(BOOK, tmp / "monolith", CORPUS, redis_url=redis_url)
        )
        targets = {
            "platform": Target(services.gateway, simple=True),
            "monolith": Target(mono.url, simple=False),
        }
        pids = {
            "platform": {name: services.services[name].process.pid for name in SERVICES},
            "monolith": {"monolith": mono.pid},
        }
        sides = asyncio.run(_measure(targets, pids))
    return _rows(sides["platform"], sides["monolith"])


if __name__ == "__main__":
    from bench.stats import print_table

    print_table(bench_rows())
