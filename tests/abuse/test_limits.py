"""Limits that a client cannot reset, tried against the real services at their defaults:
a client without cookies (a new anonymous user each time) still meets the per-address
stream cap and the limit on new users, and a forged `X-Forwarded-For` does not make a
client someone else."""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack

import httpx
import pytest

from services.gateway.settings import GatewaySettings
from tests.abuse.refusals import assert_refused, timed
from tests.fault.conftest import StackFactory
from tests.fault.gateway_user import BOOK_PAGE
from tests.support.stack import Stack

pytestmark = pytest.mark.abuse

EDGE = GatewaySettings()  # the defaults, which the stack keeps
QUESTION = {"query": "How do I bring my own book?", "context": {"page_context": BOOK_PAGE}}


@pytest.fixture(scope="module")
def stack(start_stack: StackFactory) -> Iterator[Stack]:
    # Slow answers, so that every stream this test opens is still running when it counts.
    with start_stack(token_delay_ms=150) as stack:
        yield stack


async def test_streams_without_cookies_meet_the_address_cap(stack: Stack) -> None:
    attempts = 16
    async with AsyncExitStack() as exits:

        async def open_stream() -> tuple[httpx.Response, float]:
            client = await exits.enter_async_context(httpx.AsyncClient(timeout=30))
            request = client.build_request(
                "POST", f"{stack.gateway}/assistant/chatkit", json=QUESTION
            )
            response, took = await timed(client.send(request, stream=True))
            exits.push_async_callback(response.aclose)
            if response.status_code != 200:
                await response.aread()
            return response, took

        opened = await asyncio.gather(*(open_stream() for _ in range(attempts)))
        streaming = [r for r, _ in opened if r.status_code == 200]
        refused = [(r, took) for r, took in opened if r.status_code != 200]
        assert len(streaming) <= EDGE.max_streams_per_address
        assert len(refused) >= attempts - EDGE.max_streams_per_address
        for response, took in refused:
            message = assert_refused(
                response.status_code, response.json(), 429, "rate_limited", took
            )
            assert "from one address" in message


async def test_a_forged_forwarded_for_is_not_a_new_address(stack: Stack) -> None:
    statuses: list[int] = []
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=stack.gateway, timeout=30) as client:
        assert (await client.get("/")).status_code == 200  # one user: the mint limit aside
        body = {"type": "threads.list", "params": {}}
        for _ in range(EDGE.ip_burst + 10):
            headers = {"x-forwarded-for": f"203.0.113.{secrets.randbelow(250) + 1}"}
            response, took = await timed(client.post("/chatkit", json=body, headers=headers))
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert_refused(429, response.json(), 429, "rate_limited", took)
                break
    # The user's own bucket is smaller than the address's; either way, forging the header
    # reset nothing (beyond the burst, only what the bucket refilled meanwhile passed).
    refilled = math.ceil((time.monotonic() - started) * EDGE.user_rate_per_s)
    allowed = min(EDGE.user_burst, EDGE.ip_burst) + refilled
    assert statuses[-1] == 429 and len(statuses) <= allowed + 1


async def test_new_users_from_one_address_are_limited(stack: Stack) -> None:
    statuses: list[int] = []
    for _ in range(EDGE.anon_mint_burst + 5):
        async with httpx.AsyncClient(base_url=stack.gateway, timeout=30) as client:
            response, took = await timed(client.get("/api/book"))
            statuses.append(response.status_code)
            if response.status_code == 429:
                message = assert_refused(429, response.json(), 429, "rate_limited", took)
                assert "new visitors" in message
                break
    assert statuses[-1] == 429 and len(statuses) <= EDGE.anon_mint_burst + 1
