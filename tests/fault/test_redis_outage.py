"""Redis stopped under the whole platform: answers keep flowing unchanged; only the
embedding cache's hit rate and where the gateway keeps its rate limits change. Redis
back: both use it again."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fault.conftest import StackFactory
from tests.fault.gateway_user import GatewayUser
from tests.support.redis_server import RedisServer
from tests.support.stack import Stack

pytestmark = pytest.mark.fault

BACK_OFF_S = 0.5  # how long retrieval and gateway skip Redis after a failure
HITS = 'retrieval_embedding_cache_lookups_total{layer="redis",result="hit"}'
ERRORS = "retrieval_embedding_cache_errors_total"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(Path(tmp_path_factory.mktemp("redis")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def stack(start_stack: StackFactory, redis_server: RedisServer) -> Iterator[Stack]:
    """No in-process embedding LRU (every lookup reaches Redis), short back-offs."""
    extra = {
        "retrieval": {
            "RETRIEVAL_LRU_SIZE": "0",
            "RETRIEVAL_CACHE_RETRY_AFTER_S": str(BACK_OFF_S),
            "RETRIEVAL_CACHE_TIMEOUT_S": "1",  # a busy CI box must not turn hits into misses
        },
        "gateway": {"GATEWAY_REDIS_RETRY_S": str(BACK_OFF_S)},
    }
    with start_stack(redis_url=redis_server.url, extra_env=extra) as stack:
        yield stack


async def _metric(stack: Stack, name: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{stack.url('retrieval')}/metrics")).text
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def _answer(stack: Stack, question: str) -> str:
    """A new reader asks in a new thread; the answer's text (failing on any error)."""
    async with GatewayUser(stack.gateway) as user:
        answer = await asyncio.wait_for(user.ask(question), 30)
    assert answer.status == 200, answer.body
    assert not answer.errors, answer.errors
    text = answer.assistant_text()
    assert text.strip() and "couldn't search" not in text
    return text


async def test_redis_outage_changes_only_caching_and_rate_limit_storage(
    stack: Stack, redis_server: RedisServer
) -> None:
    question = "How do I bring my own book?"
    # Redis up: the repeated question's embedding comes from Redis; limits live there
    before = await _answer(stack, question)
    hits = await _metric(stack, HITS)
    assert await _answer(stack, question) == before
    assert await _metric(stack, HITS) > hits
    assert redis_server.keys("chatkit:emb:*") and redis_server.keys("gateway:*:rl:*")

    redis_server.stop()
    errors = await _metric(stack, ERRORS)
    hits = await _metric(stack, HITS)
    during = [await _answer(stack, question) for _ in range(3)]
    assert during == [before] * 3, "answers changed while Redis was down"
    others = ["Which models can the assistant use?", "How is the platform deployed?"]
    for other in others:
        await _answer(stack, other)
    assert await _metric(stack, HITS) == hits
    assert await _metric(stack, ERRORS) > errors, "retrieval never noticed Redis was gone"

    redis_server.start()  # empty: it keeps nothing across restarts
    await asyncio.sleep(2 * BACK_OFF_S)
    assert not redis_server.keys("*")
    assert await _answer(stack, question) == before
    hits = await _metric(stack, HITS)
    assert await _answer(stack, question) == before
    assert await _metric(stack, HITS) > hits, "caching did not resume"
    assert redis_server.keys("chatkit:emb:*")
    assert redis_server.keys("gateway:*:rl:*"), "rate limits did not move back to Redis"
