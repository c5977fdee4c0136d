"""Store or retrieval down or slow: bounded waits, and a stream that always ends."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.integration.chat.conftest import chat_service
from tests.support.servers import free_port, serve

SLOW_S = 3.0


@pytest.fixture(scope="module")
def slow_url() -> Iterator[str]:
    """A server that answers every request only after `SLOW_S` seconds."""

    async def slow(request: Request) -> Response:
        await asyncio.sleep(SLOW_S)
        return Response(status_code=503)

    app = Starlette(routes=[Route("/{path:path}", slow, methods=["GET", "POST", "PUT"])])
    with serve(app) as url:
        yield url


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


async def _ask(url: str, connect: Any) -> tuple[Any, float]:
    chat = connect(url, f"reader_{uuid.uuid4().hex[:8]}")
    started = time.monotonic()
    reply = await chat.create("How do I sign in?")
    return reply, time.monotonic() - started


@pytest.mark.parametrize("store", ["down", "slow"])
async def test_store_failure_ends_the_stream_with_a_retryable_error(
    store: str, retrieval_url: str, slow_url: str, connect: Any
) -> None:
    store_url = dead_url() if store == "down" else slow_url
    with chat_service(store_url, retrieval_url, store_timeout_s=0.5) as (url, _):
        reply, took = await _ask(url, connect)
    assert reply.status == 200
    assert [e.type for e in reply.events] == ["error"]
    assert reply.events[0].allow_retry is True
    assert took < SLOW_S


@pytest.mark.parametrize("retrieval", ["down", "slow"])
async def test_search_failure_is_explained_by_the_assistant(
    retrieval: str, store_url: str, slow_url: str, connect: Any
) -> None:
    retrieval_url = dead_url() if retrieval == "down" else slow_url
    with chat_service(store_url, retrieval_url, retrieval_timeout_s=0.5) as (url, _):
        reply, took = await _ask(url, connect)
    assert reply.status == 200
    assert not reply.of_type("error")
    assert "couldn't search the book" in reply.text
    assert took < SLOW_S
