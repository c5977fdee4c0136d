"""`ApiRoute`: a streaming route does not keep its request while it answers."""

from __future__ import annotations

import gc
import weakref

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from shared.api import ApiRoute
from shared.errors import ApiError, install_error_handlers


class _Checks:
    """A response that reports, while it runs, whether its handler's request is still alive."""

    def __init__(self, request: Request) -> None:
        self.request = weakref.ref(request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gc.collect()
        alive = b"alive" if self.request() is not None else b"released"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": alive})


async def handler(request: Request) -> _Checks:
    if request.query_params.get("fail"):
        raise ApiError(409, "refused by the handler")
    await request.body()  # cached on the request: what an open stream must not keep
    return _Checks(request)


def app(streams: bool) -> Starlette:
    route = ApiRoute("/s", handler, method="POST", summary="a stream", streams=streams)
    built = Starlette(routes=[route])
    install_error_handlers(built, None)
    return built


async def post(streams: bool, path: str = "/s") -> httpx.Response:
    transport = httpx.ASGITransport(app=app(streams))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post(path, content=b"x" * 10_000)


async def test_a_streaming_route_releases_its_request_while_it_answers() -> None:
    assert (await post(streams=True)).text == "released"
    assert (await post(streams=False)).text == "alive"  # Starlette's wrapper keeps it


async def test_a_streaming_routes_errors_reach_the_apps_handlers() -> None:
    answer = await post(streams=True, path="/s?fail=1")
    assert answer.status_code == 409
    assert answer.json()["error"]["message"] == "refused by the handler"
