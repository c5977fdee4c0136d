"""A real upstream ChatKit server and gateways in front of it, all on real ports."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.integration.gateway.book_service import serve_book
from tests.integration.gateway.upstream import Control
from tests.integration.gateway.upstream import create_app as create_upstream
from tests.support.servers import serve

COOKIE_SECRET = "test-cookie-secret"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def control() -> Control:
    return Control()


@pytest.fixture(scope="session")
def upstream_url(store_url: str, control: Control) -> Iterator[str]:
    """The test ChatKit server (threads in the real store service)."""
    with serve(create_upstream(store_url, control)) as url:
        yield url


@pytest.fixture(scope="session")
def book_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real retrieval service with the demo book ingested: where gateways find the book."""
    with serve_book(tmp_path_factory.mktemp("book-retrieval")) as url:
        yield url


@pytest.fixture(autouse=True)
def _reset(control: Control) -> None:
    control.reset()


def gateway_settings(upstream_url: str, store_url: str, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "chat_url": upstream_url,
        "store_url": store_url,
        "cookie_secret": COOKIE_SECRET,
        "log_level": "warning",
        "heartbeat_s": 0.3,
        "redis_url": None,
        "redis_prefix": f"gwtest:{uuid.uuid4().hex[:8]}:",
        "ip_burst": 10_000,
        "user_burst": 10_000,
        "max_streams_per_user": 50,
        "max_streams_per_address": 10_000,
        "anon_mint_burst": 10_000,
        **overrides,
    }
    return GatewaySettings(_env_file=None, **values)


@pytest.fixture(scope="session")
def gateway_url(upstream_url: str, store_url: str, book_url: str) -> Iterator[str]:
    """The gateway with test-friendly settings (fast heartbeat, loose limits)."""
    settings = gateway_settings(upstream_url, store_url, retrieval_url=book_url)
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture
def make_gateway(
    upstream_url: str, store_url: str, book_url: str
) -> Callable[..., AbstractContextManager[str]]:
    """Start a gateway with particular settings for one test: `with make_gateway(...) as url`."""

    def make(**overrides: Any) -> AbstractContextManager[str]:
        overrides.setdefault("retrieval_url", book_url)
        return serve(create_app(gateway_settings(upstream_url, store_url, **overrides)))

    return make


@pytest.fixture
async def client(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client: a fresh cookie jar, so a fresh anonymous user."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as c:
        assert (await c.get("/")).status_code == 200  # picks up the user cookie
        yield c
