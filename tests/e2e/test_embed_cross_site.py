"""The embed on a site of another *site* than the gateway's (not only another port, which
browsers count as the same site): `https://docs.test` embedding `https://gateway.test`,
both names resolved to this machine by Chromium, both served over TLS with a self-signed
certificate. The gateway's dev cookie then travels only as the README says: with
`GATEWAY_COOKIE_SAMESITE=none` (and `Secure`) the reader stays one user from page to page,
so a reload reopens the thread; the cookie is `Partitioned` then, since Chromium keeps no
other third-party cookie (without it the same test failed: the cookie was never stored).
With the default `lax` the browser never sends it to the gateway from the docs site, and
each page is a new anonymous reader (the control that the two origins are cross-site)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from services.gateway.app import create_app
from tests.e2e.conftest import launched_chromium
from tests.integration.gateway.book_service import serve_book
from tests.integration.gateway.conftest import gateway_settings
from tests.integration.gateway.upstream import Control
from tests.integration.gateway.upstream import create_app as create_upstream
from tests.support.host_site import HostSite
from tests.support.servers import free_port, serve
from tests.support.tls import TlsFiles, self_signed

pytestmark = pytest.mark.e2e
playwright = pytest.importorskip("playwright.async_api", reason="Playwright is not installed")
expect = playwright.expect

PANEL = "book-assistant"
ANSWER = f"{PANEL} .msg.assistant:not(.streaming)"
SITES = ("docs.test", "gateway.test")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return self_signed(tmp_path_factory.mktemp("tls"), list(SITES))


@pytest.fixture(scope="module")
def backends(
    store_url: str, e2e_control: Control, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """The test upstream (on the real store) and a retrieval service, for the gateways."""
    with (
        serve_book(tmp_path_factory.mktemp("cross-site-book")) as book,
        serve(create_upstream(store_url, e2e_control)) as upstream,
    ):
        yield upstream, book


@pytest.fixture(scope="module")
async def cross_site_browser() -> AsyncIterator[Any]:
    rules = ",".join(f"MAP {name} 127.0.0.1" for name in SITES)
    async with launched_chromium(f"--host-resolver-rules={rules}") as browser:
        yield browser


def _docs_site(root: Path, gateway: str) -> HostSite:
    (root / "index.html").write_text(
        "<html><head><title>Docs</title></head><body><p>A page of the docs.</p></body></html>",
        "utf-8",
    )
    return HostSite(root, gateway)


@pytest.mark.parametrize("same_site", ["none", "lax"])
async def test_the_cookie_crosses_sites_only_when_samesite_none(
    same_site: str,
    cross_site_browser: Any,
    backends: tuple[str, str],
    store_url: str,
    tls: TlsFiles,
    tmp_path: Path,
) -> None:
    upstream, book = backends
    gateway_port, docs_port = free_port(), free_port()
    gateway, docs = f"https://gateway.test:{gateway_port}", f"https://docs.test:{docs_port}"
    settings = gateway_settings(
        upstream,
        store_url,
        retrieval_url=book,
        public_url=gateway,
        cookie_secure=True,
        cookie_samesite=same_site,
        cors_origins=[docs],
    )
    site = _docs_site(tmp_path, gateway)
    with (
        serve(create_app(settings), port=gateway_port, tls=tls),
        serve(site.app(), port=docs_port, tls=tls),
    ):
        context = await cross_site_browser.new_context(base_url=docs, ignore_https_errors=True)
        try:
            page = await context.new_page()
            await page.goto("/")
            await page.wait_for_selector(f"{PANEL}[ready]", state="attached")
            await page.click(f"{PANEL} .launcher")
            await page.fill(f"{PANEL} #question", "What is page context?")
            await page.click(f"{PANEL} #send")
            await expect(page.locator(ANSWER)).to_have_count(1)

            # The next page of the site: the panel reopens the thread it remembers, which
            # the gateway shows only to the reader who wrote it.
            await page.reload()
            await page.wait_for_selector(f"{PANEL}[ready]", state="attached")
            cookies = {c["name"]: c for c in await context.cookies(gateway)}
            if same_site == "none":
                cookie = cookies["__Host-chatkit_uid"]
                assert (cookie["sameSite"], cookie["secure"]) == ("None", True)
                # Partitioned (CHIPS): Chromium keeps no other third-party cookie.
                assert cookie.get("partitionKey") == "https://docs.test"
                await expect(page.locator(ANSWER)).to_have_count(1)
                await expect(page.locator(f"{PANEL} .msg.user")).to_have_text(
                    "What is page context?"
                )
            else:
                await expect(page.locator(f"{PANEL} .msg")).to_have_count(0)
        finally:
            await context.close()
