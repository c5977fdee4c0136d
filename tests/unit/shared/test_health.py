"""`/readyz`: which dependency is not ready, never where it lives; the detail is logged."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from starlette.applications import Starlette

from shared import health
from shared.health import health_routes


async def unreachable() -> None:
    raise OSError("Cannot connect to host 127.0.0.1:8101 ssl:default [Connect call failed]")


async def hanging() -> None:
    await asyncio.Event().wait()


async def fine() -> None:
    return None


async def readyz(app: Starlette) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/readyz")


async def test_not_ready_names_the_check_not_the_address(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "READINESS_TIMEOUT_S", 0.05)
    checks = {"store": unreachable, "retrieval": hanging, "index": fine}
    app = Starlette(routes=health_routes(checks, metrics=False))
    with caplog.at_level(logging.WARNING, logger="shared.health"):
        answer = await readyz(app)
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["message"] == "Not ready: retrieval, store"
    assert error["details"] == [
        {"check": "retrieval", "problem": "timed out"},
        {"check": "store", "problem": "unavailable"},
    ]
    assert "127.0.0.1" not in answer.text and "8101" not in answer.text
    assert "Cannot connect to host 127.0.0.1:8101" in caplog.text  # the operator still sees it


async def test_ready() -> None:
    answer = await readyz(Starlette(routes=health_routes({"index": fine}, metrics=False)))
    assert answer.status_code == 200
    assert answer.json() == {"status": "ready", "checks": ["index"]}
