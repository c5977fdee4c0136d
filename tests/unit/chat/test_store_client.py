"""`store_client.py`: what `HttpStore` makes of answers the store service should not give.
(Its contract with the real store service is `tests/contract/test_chat_to_store.py`.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.chat.store_client import HttpStore
from shared.http import ServiceHttp, UpstreamUnavailable
from tests.support.servers import serve

CTX = {"user_id": "u"}


@pytest.fixture(scope="module")
def garbling_url() -> Iterator[str]:
    """A server answering 200 with JSON that is not the store's contract."""

    async def garbled(request: Request) -> Response:
        return JSONResponse({"thread": {"id": 5}, "data": "not a page"})

    app = Starlette(routes=[Route("/{path:path}", garbled)])
    with serve(app) as url:
        yield url


async def test_a_malformed_answer_is_the_store_failing(garbling_url: str) -> None:
    async with ServiceHttp(garbling_url, service="store", token=None) as client:
        store = HttpStore(client)
        with pytest.raises(UpstreamUnavailable, match="malformed"):
            await store.load_thread("thr_1", CTX)
        with pytest.raises(UpstreamUnavailable, match="malformed"):
            await store.load_thread_items("thr_1", None, 10, "asc", CTX)
