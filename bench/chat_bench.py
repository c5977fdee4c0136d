"""Chat benchmark: time to the first assistant text delta, services vs one process.

The platform path is the chat service process talking HTTP to a store service
process (PostgreSQL) and a retrieval service process; the baseline is the same chat
app and agent in one process with an in-memory store and in-process search
(`bench/monolith`). Both use the offline model at zero token delay, the same small
book and the same HTTP client. Each sample is one `threads.add_user_message` on a
conversation of its own, timed from sending the request to the first
`assistant_message.content_part.text_delta` frame (the stream is read to the end).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from bench.config import scaled
from bench.monolith.process import OFFLINE, monolith_process
from bench.stats import Row, latency_rows
from tests.support.postgres import admin_url, fresh_database
from tests.support.processes import running

N_SEQUENTIAL = scaled(40, 10, "BENCH_CHAT_N")
CONCURRENCY = 32
PER_WORKER = scaled(6, 1, "BENCH_CHAT_PER_WORKER")
WARMUP = scaled(10, 2)
ROUNDS = scaled(3, 1)
"""Rounds per side, alternating which side goes first: machine noise hits both alike."""
CORPUS = "bench"
DELTA = b'"assistant_message.content_part.text_delta"'
QUESTIONS = [
    "How long does a magic link stay valid?",
    "How do I create a workspace?",
    "How do I narrow a search to my chapter?",
    "Does the platform use passwords?",
    "Who pays for a workspace?",
    "What does the full-book scope rank first?",
]
BOOK = {
    "01-start/01-accounts.md": "---\ntitle: Accounts\nchapter: 1\nlesson: accounts\n---\n\n"
    "# Accounts\n\n## Signing in\n\nSign in with the magic link sent to your email address. "
    "A magic link expires after ten minutes, so request a new one if it stops working.\n\n"
    "## Passwords\n\nThe platform has no passwords at all; every sign-in goes through email.\n",
    "01-start/02-workspace.md": "---\ntitle: Workspaces\nchapter: 1\nlesson: workspace\n---\n\n"
    "# Workspaces\n\n## Creating a workspace\n\nCreate a workspace from the dashboard with the "
    "New workspace button. Each workspace has its own members and its own billing; the owner "
    "pays for it.\n",
    "02-search/01-scopes.md": "---\ntitle: Search scopes\nchapter: 2\nlesson: scopes\n---\n\n"
    "# Search scopes\n\n## Narrowing a search\n\nNarrow a search to the current chapter with "
    "the scope menu next to the search box. The full-book scope still ranks passages from "
    "your chapter first.\n",
}


def _write_book(root: Path) -> Path:
    for rel, text in BOOK.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _body(thread_id: str | None, n: int) -> dict[str, Any]:
    question = QUESTIONS[n % len(QUESTIONS)]
    message = {
        "content": [{"type": "input_text", "text": question}],
        "attachments": [],
        "inference_options": {},
    }
    metadata = {"page_context": {"current_chapter": 1 + n % 2}}
    if thread_id is None:
        return {"type": "threads.create", "params": {"input": message}, "metadata": metadata}
    return {
        "type": "threads.add_user_message",
        "params": {"thread_id": thread_id, "input": message},
        "metadata": metadata,
    }


class Asked(NamedTuple):
    """What one streamed request gave."""

    first_ms: float
    """Time to the first text delta."""
    thread_id: str
    """The thread a `threads.create` made (empty for other requests)."""
    run_id: str
    """The run of a resumable answer, from its event ids (empty when not resumable)."""


async def _ask(
    http: httpx.AsyncClient,
    user: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    url: str = "/chatkit",
) -> Asked:
    """One request, read to its end."""
    started = time.perf_counter()
    first: float | None = None
    thread_id = run_id = ""
    headers = {"x-user-id": user, **(headers or {})}
    async with http.stream("POST", url, json=body, headers=headers) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if first is None and DELTA in line.encode():
                first = (time.perf_counter() - started) * 1000
            if not thread_id and '"thread.created"' in line:
                thread_id = line.split('"id":"', 1)[1].split('"', 1)[0]
            if not run_id and line.startswith("id: "):
                run_id = line[4:].partition(".")[0]
    if first is None:
        raise RuntimeError(f"no text delta in the reply to {body['type']}")
    return Asked(first, thread_id, run_id)


async def _conversation(http: httpx.AsyncClient, turns: int, warmup: int = 0) -> list[float]:
    user = f"bench_{uuid.uuid4().hex[:10]}"
    thread_id = (await _ask(http, user, _body(None, 0))).thread_id
    samples = []
    for n in range(warmup + turns):
        ms = (await _ask(http, user, _body(thread_id, n + 1))).first_ms
        if n >= warmup:
            samples.append(ms)
    return samples


async def _measure(url: str) -> dict[str, list[float]]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        one = await _conversation(http, N_SEQUENTIAL, warmup=WARMUP)
        results = await asyncio.gather(
            *(_conversation(http, PER_WORKER, warmup=1) for _ in range(CONCURRENCY))
        )
    return {"c1": one, "c32": [ms for worker in results for ms in worker]}


@contextmanager
def backends(book: Path, data: Path) -> Iterator[dict[str, str]]:
    """A store (a fresh database) and a retrieval service with `book` ingested, as long as
    the block runs; yields the environment of a chat service using them."""
    with ExitStack() as stack:
        admin = stack.enter_context(admin_url())
        database = stack.enter_context(fresh_database(admin))
        store = stack.enter_context(
            running("store", {"STORE_DATABASE_URL": database, "STORE_LOG_LEVEL": "warning"})
        )
        retrieval_env = {
            "RETRIEVAL_DATA_DIR": str(data),
            "RETRIEVAL_INGEST_ON_START": str(book),
            "RETRIEVAL_INGEST_CORPUS": CORPUS,
            "RETRIEVAL_LOG_LEVEL": "warning",
            "RETRIEVAL_REDIS_URL": "",
            "HF_HUB_OFFLINE": "1",
        }
        retrieval = stack.enter_context(running("retrieval", retrieval_env, ready_timeout=180))
        yield {
            **OFFLINE,
            "CHAT_STORE_URL": store.url,
            "CHAT_RETRIEVAL_URL": retrieval.url,
            "CHAT_CORPUS": CORPUS,
            "CHAT_OFFLINE_TOKEN_DELAY_MS": "0",
            "CHAT_LOG_LEVEL": "warning",
        }


@contextmanager
def _services(book: Path, data: Path) -> Iterator[str]:
    with backends(book, data) as chat_env, running("chat", chat_env) as chat:
        yield chat.url


def main() -> list[Row]:
    """Measure the services and the monolith on the same book and questions, in
    interleaved rounds (both running), pooling each side's samples over the rounds."""
    services: dict[str, list[float]] = {"c1": [], "c32": []}
    monolith: dict[str, list[float]] = {"c1": [], "c32": []}
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as tmp:
        root = Path(tmp)
        book = _write_book(root / "book")
        with (
            _services(book, root / "index-services") as url,
            monolith_process(book, root / "index-monolith", CORPUS) as mono,
        ):
            sides = [(url, services), (mono.url, monolith)]
            for round_ in range(ROUNDS):
                for side_url, samples in sides if round_ % 2 == 0 else sides[::-1]:
                    for key, values in asyncio.run(_measure(side_url)).items():
                        samples[key] += values
    g = "chat"
    return [
        *latency_rows(
            g,
            "first text delta, 1 conversation, services vs 1 process",
            services["c1"],
            monolith["c1"],
            "p50 within 1.5x",
        ),
        *latency_rows(
            g,
            f"first text delta, {CONCURRENCY} concurrent, services vs 1 process",
            services["c32"],
            monolith["c32"],
            "p50 within 1.5x",
        ),
    ]


if __name__ == "__main__":
    from bench.stats import print_table

    print_table(main())
