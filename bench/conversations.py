"""Conversations over HTTP, timed from sending each request to its first assistant text delta.

Two ways in: the gateway's simple payload (`POST /assistant/chatkit`, the dev cookie
it mints on the first answer sent back on every later turn) and native ChatKit
(`POST /chatkit` with `x-user-id`, as the monolith takes it). One aiohttp client
drives both, so both sides pay the same client cost.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass

import aiohttp

DELTA = b'"assistant_message.content_part.text_delta"'
THREAD_ID = re.compile(rb'"thread\.created".*?"id":"([^"]+)"', re.S)
ERROR = b'"type":"error"'
SOURCES_CARD = b'"type":"widget"'
QUESTIONS = [
    "How do I run the platform locally?",
    "How does the full-book scope boost passages from my chapter?",
    "What does the offline model do?",
    "How are citations linked to their sources?",
    "How do I ingest my own book?",
    "What happens when a user hits the rate limit?",
    "How do I stop an answer that is streaming?",
    "Which settings does the gateway read?",
]


@dataclass(frozen=True)
class Target:
    """Where conversations go: the gateway (`simple`) or a native ChatKit endpoint."""

    url: str
    simple: bool

    @property
    def endpoint(self) -> str:
        return f"{self.url}/assistant/chatkit" if self.simple else f"{self.url}/chatkit"

    def body(self, n: int, thread_id: str | None) -> bytes:
        """Question `n` of a conversation, continuing `thread_id` when given."""
        question = QUESTIONS[n % len(QUESTIONS)]
        page = {"current_chapter": 1 + n % 6}
        if self.simple:
            simple: dict[str, object] = {"query": question, "context": {"page_context": page}}
            if thread_id:
                simple["thread_id"] = thread_id
            return json.dumps(simple).encode()
        message = {
            "content": [{"type": "input_text", "text": question}],
            "attachments": [],
            "inference_options": {},
        }
        params: dict[str, object] = {"input": message}
        if thread_id:
            params["thread_id"] = thread_id
        kind = "threads.add_user_message" if thread_id else "threads.create"
        return json.dumps(
            {"type": kind, "params": params, "metadata": {"page_context": page}}
        ).encode()

    def first_headers(self) -> dict[str, str]:
        """Headers of a new conversation's first request (a new user on the monolith)."""
        headers = {"content-type": "application/json"}
        if not self.simple:
            headers["x-user-id"] = f"bench_{uuid.uuid4().hex[:12]}"
        return headers


@dataclass
class Answer:
    ttft_ms: float
    thread_id: str | None
    cookie: str | None
    grounded: bool
    """Whether the answer carries a sources card (its search found passages)."""


async def ask(
    session: aiohttp.ClientSession, target: Target, headers: dict[str, str], body: bytes
) -> Answer:
    """Send one streaming request and read the answer to its end."""
    started = time.perf_counter()
    first: float | None = None
    tail = b""
    received = bytearray()
    async with session.post(target.endpoint, data=body, headers=headers) as response:
        if response.status != 200:
            raise RuntimeError(f"{target.endpoint}: {response.status} {await response.text()}")
        cookies = response.cookies
        async for chunk in response.content.iter_any():
            if first is None:
                window = tail + chunk
                if DELTA in window:
                    first = (time.perf_counter() - started) * 1000
                tail = window[-len(DELTA) :]
            received += chunk
    if ERROR in received:
        raise RuntimeError(f"error event in an answer: {bytes(received)[-500:]!r}")
    if first is None:
        raise RuntimeError(f"no text delta in an answer: {bytes(received)[-500:]!r}")
    found = THREAD_ID.search(received)
    cookie = "; ".join(f"{k}={m.value}" for k, m in cookies.items()) or None
    thread_id = found.group(1).decode() if found else None
    return Answer(first, thread_id, cookie, SOURCES_CARD in received)


async def check_grounded(session: aiohttp.ClientSession, target: Target) -> None:
    """Fail unless a first question is answered from the book (the index is not empty)."""
    answer = await ask(session, target, target.first_headers(), target.body(0, None))
    if not answer.grounded:
        raise RuntimeError(f"{target.url} answered without sources: is the book indexed?")


async def conversation(
    session: aiohttp.ClientSession, target: Target, turns: int, seed: int
) -> list[float]:
    """One new thread and `turns` answers in it; the time to first text delta of each."""
    headers = target.first_headers()
    thread_id: str | None = None
    samples = []
    for turn in range(turns):
        answer = await ask(session, target, headers, target.body(seed + turn, thread_id))
        if thread_id is None:
            if answer.thread_id is None:
                raise RuntimeError("no thread.created event in a conversation's first answer")
            thread_id = answer.thread_id
            if answer.cookie:
                headers["cookie"] = answer.cookie
        samples.append(answer.ttft_ms)
    return samples


@dataclass
class Level:
    """One concurrency level's measurements."""

    concurrency: int
    ttft_ms: list[float]
    answers_per_s: float


async def run_level(
    session: aiohttp.ClientSession, target: Target, concurrency: int, each: int, turns: int
) -> Level:
    """`concurrency` workers, each holding `each` conversations of `turns` answers in a row."""

    async def worker(w: int) -> list[float]:
        samples = []
        for c in range(each):
            samples += await conversation(session, target, turns, seed=w + c)
        return samples

    started = time.perf_counter()
    results = await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - started
    samples = [ms for worker_samples in results for ms in worker_samples]
    return Level(concurrency, samples, len(samples) / elapsed)


def client_session() -> aiohttp.ClientSession:
    """Unlimited connections; no shared cookie jar (each conversation is its own user)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=300),
    )
