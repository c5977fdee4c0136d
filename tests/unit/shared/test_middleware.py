"""The platform's pure ASGI middleware: the service token rule and the edge's headers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.errors import install_error_handlers
from shared.middleware import (
    BodyLimitMiddleware,
    InternalTokenMiddleware,
    ResponseHeadersMiddleware,
)


async def whoami(request: Request) -> Response:
    return JSONResponse({"user": request.headers.get("x-user-id")})


def service(token: str | None) -> Starlette:
    return Starlette(
        routes=[Route("/v1/threads", whoami), Route("/healthz", whoami)],
        middleware=[Middleware(InternalTokenMiddleware, token=token)],
    )


async def get(app: Starlette, base_url: str, path: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as c:
        return await c.get(path, headers={"x-user-id": "u1", **headers})


@pytest.mark.parametrize("reached", ["http://127.0.0.1:8103", "http://[::1]:8103", "http://store"])
async def test_without_a_token_calls_on_loopback_are_served(reached: str) -> None:
    answer = await get(service(None), reached, "/v1/threads")
    assert answer.status_code == 200 and answer.json() == {"user": "u1"}


@pytest.mark.parametrize("reached", ["http://192.0.2.2:8103", "http://[fd00::2]:8103"])
async def test_without_a_token_calls_beyond_loopback_are_refused(reached: str) -> None:
    app = service(None)
    answer = await get(app, reached, "/v1/threads")
    assert answer.status_code == 401
    assert answer.json()["error"]["message"] == "Missing or invalid service token."
    assert (await get(app, reached, "/healthz")).status_code == 200  # probes stay open


async def test_with_a_token_it_is_required_everywhere() -> None:
    app = service("s3cret")
    assert (await get(app, "http://127.0.0.1", "/v1/threads")).status_code == 401
    answer = await get(app, "http://192.0.2.2", "/v1/threads", **{"x-service-token": "s3cret"})
    assert answer.status_code == 200


async def test_response_headers_are_added_unless_the_answer_sets_them() -> None:
    async def own(request: Request) -> Response:
        return Response("x", headers={"content-security-policy": "sandbox"})

    app = Starlette(
        routes=[Route("/plain", whoami), Route("/own", own)],
        middleware=[
            Middleware(
                ResponseHeadersMiddleware,
                headers={"Content-Security-Policy": "default-src 'self'", "X-Test": "1"},
            )
        ],
    )
    plain = await get(app, "http://test", "/plain")
    assert plain.headers["content-security-policy"] == "default-src 'self'"
    assert plain.headers["x-test"] == "1"
    own_answer = await get(app, "http://test", "/own")
    assert own_answer.headers.get_list("content-security-policy") == ["sandbox"]
    assert own_answer.headers["x-test"] == "1"


async def _echo_length(request: Request) -> Response:
    return JSONResponse({"read": len(await request.body())})


async def _post_to_limited(content: bytes | object) -> httpx.Response:
    app = Starlette(
        routes=[Route("/in", _echo_length, methods=["POST"])],
        middleware=[Middleware(BodyLimitMiddleware, limit=100)],
    )
    install_error_handlers(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.post("/in", content=content)  # type: ignore[arg-type]


async def _chunks(size: int) -> AsyncIterator[bytes]:
    for _ in range(size // 10):
        yield b"x" * 10


async def test_a_body_over_the_limit_is_refused_declared_or_chunked() -> None:
    assert (await _post_to_limited(b"x" * 101)).status_code == 413
    chunked = await _post_to_limited(_chunks(200))  # no Content-Length: counted as read
    assert chunked.status_code == 413
    assert "larger than 100 bytes" in chunked.json()["error"]["message"]
    assert (await _post_to_limited(_chunks(100))).json() == {"read": 100}
    assert (await _post_to_limited(b"x" * 100)).json() == {"read": 100}
