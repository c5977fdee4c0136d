"""Running stacks for browser tests.

`page` is the web client in front of the test ChatKit upstream (scripted answers) and
the real store; `stack_page` is the web client on the real platform (`tests.support.stack`:
store, retrieval, chat with the offline model, gateway, as processes).

Browser tests need Playwright's Python package and a Chromium binary; without them
they are skipped with the reason. Install (Debian): `apt-get install -y chromium` and
`pip install playwright` (never `playwright install`: the system Chromium is used).

Pages run under the gateway's Content-Security-Policy, and a test fails on any violation
it reports. So `wait_for_function` takes a function: an expression string is `eval`ed
there, which the policy refuses.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from services.gateway.app import create_app
from tests.integration.gateway.book_service import serve_book
from tests.integration.gateway.conftest import gateway_settings
from tests.integration.gateway.upstream import Control
from tests.integration.gateway.upstream import create_app as create_upstream
from tests.support.servers import serve
from tests.support.stack import Stack, platform

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
AXE = Path(__file__).resolve().parents[2] / ".venv/tools/axe-core/node_modules/axe-core/axe.min.js"
"""axe-core, as `make test` installs it (npm)."""


def require_axe() -> Path:
    """The axe-core script; skips the test, saying why, where it is not installed."""
    if not AXE.exists():
        pytest.skip("axe-core is not installed (make test installs it with npm)")
    return AXE


CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]
REPORT_CSP_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (e) =>
  reportCspViolation(
    `${e.effectiveDirective}: ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`,
  ));"""
PANEL_HELPER = """window.panel = () =>
  document.querySelector("book-assistant")?.shadowRoot ?? document;"""
"""`panel()` in the page: the chat panel's root (the reader page's <book-assistant> shadow
root), for scripts that look inside it (Playwright's own selectors pierce it already)."""
TOKEN_DELAY_MS = 25
"""The offline model's pause per streamed token: answers take seconds, so they can be stopped."""


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
def stack_url(
    store_url: str, e2e_control: Control, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The gateway's URL, in front of the test upstream, the real store and a real
    retrieval service serving the demo book."""
    with (
        serve_book(tmp_path_factory.mktemp("e2e-book")) as book,
        serve(create_upstream(store_url, e2e_control)) as upstream,
    ):
        settings = gateway_settings(upstream, store_url, heartbeat_s=15.0, retrieval_url=book)
        with serve(create_app(settings)) as url:
            yield url


@pytest.fixture(scope="session")
def full_stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The real platform, its chat service on the offline model with a per-token delay."""
    tmp = tmp_path_factory.mktemp("full-stack")
    with platform(tmp, database_url=database_url, token_delay_ms=TOKEN_DELAY_MS) as stack:
        yield stack


@asynccontextmanager
async def launched_chromium(*extra_args: str) -> AsyncIterator[Any]:
    """Headless Chromium (the system's, through Playwright) with `extra_args`; skips the
    test when either is missing."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("Playwright is not installed (pip install playwright)")
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install chromium, or set CHROMIUM_PATH)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=[*CHROMIUM_ARGS, *extra_args]
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    async with launched_chromium() as browser:
        yield browser


async def watch_csp(context: Any) -> list[str]:
    """The `securitypolicyviolation` events of every page of `context`, as they come."""
    violations: list[str] = []
    await context.expose_binding("reportCspViolation", lambda _, text: violations.append(text))
    await context.add_init_script(REPORT_CSP_VIOLATIONS)
    return violations


@asynccontextmanager
async def open_client(browser: Any, base_url: str) -> AsyncIterator[Any]:
    """A fresh browser context (a new anonymous user) on the web client; fails the test
    on any JavaScript error the page raised or any violation of its policy."""
    context = await browser.new_context(base_url=base_url, viewport={"width": 1400, "height": 900})
    violations = await watch_csp(context)
    await context.add_init_script(PANEL_HELPER)
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
    assert not violations, f"Content-Security-Policy violations: {violations}"


@pytest.fixture
async def page(browser: Any, stack_url: str) -> AsyncIterator[Any]:
    """The web client in front of the test upstream."""
    async with open_client(browser, stack_url) as page:
        yield page


@pytest.fixture
async def stack_page(browser: Any, full_stack: Stack) -> AsyncIterator[Any]:
    """The web client on the real platform."""
    async with open_client(browser, full_stack.gateway) as page:
        yield page
