"""The error table: domain errors become the envelope with the status their app maps."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.errors import DomainError, install_error_handlers


class Missing(DomainError):
    pass


class MissingThread(Missing):
    code = "thread_not_found"


class Busy(DomainError):
    pass


def app_raising(error: Exception) -> Starlette:
    async def endpoint(request: Request) -> Response:
        raise error

    app = Starlette(routes=[Route("/", endpoint)])
    install_error_handlers(app, {Missing: 404, Busy: 503})
    return app


async def call(error: Exception) -> httpx.Response:
    transport = httpx.ASGITransport(app=app_raising(error), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/")


async def test_a_mapped_error_gets_its_status_code_and_message() -> None:
    response = await call(Busy("Try again shortly.", headers={"Retry-After": "2"}))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json() == {"error": {"code": "unavailable", "message": "Try again shortly."}}


async def test_a_subclass_inherits_the_status_and_keeps_its_own_code() -> None:
    response = await call(MissingThread("No such thread."))
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "thread_not_found", "message": "No such thread."}


async def test_an_unmapped_domain_error_is_a_500_without_its_message() -> None:
    response = await call(DomainError("internal detail"))
    assert response.status_code == 500
    assert "internal detail" not in response.text
