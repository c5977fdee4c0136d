"""A running stack for browser tests: store, the test ChatKit upstream and the gateway.

Browser tests need Playwright's Python package and a Chromium binary; without them
they are skipped with the reason. Install (Debian): `apt-get install -y chromium` and
`pip install playwright` (never `playwright install`: the system Chromium is used).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from services.gateway.app import create_app
from tests.integration.gateway.conftest import gateway_settings
from tests.integration.gateway.upstream import Control
from tests.integration.gateway.upstream import create_app as create_upstream
from tests.support.servers import serve

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if os.path.exists(configured) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def e2e_control() -> Control:
    return Control()


@pytest.fixture(autouse=True)
def _reset_control(e2e_control: Control) -> None:
    e2e_control.reset()


@pytest.fixture(scope="session")
def stack_url(store_url: str, e2e_control: Control) -> Iterator[str]:
    """The gateway's URL, in front of the test upstream and the real store."""
    with serve(create_upstream(store_url, e2e_control)) as upstream:
        settings = gateway_settings(upstream, store_url, heartbeat_s=15.0)
        with serve(create_app(settings)) as url:
            yield url


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("Playwright is not installed (pip install playwright)")
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install chromium, or set CHROMIUM_PATH)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(browser: Any, stack_url: str) -> AsyncIterator[Any]:
    """A fresh browser context (a new anonymous user) on the web client."""
    context = await browser.new_context(base_url=stack_url, viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto("/")
    await page.wait_for_selector("body.ready")
    try:
        yield page
    finally:
        await context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
