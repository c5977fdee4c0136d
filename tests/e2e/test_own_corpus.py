"""The reader shows the corpus chat answers from, not the demo book: a small corpus (Markdown
pages in nested folders and an HTML page with script in it) is ingested from a folder
outside `docs/book` with the ingest command, the platform runs with `CHAT_CORPUS` naming
it (as `CHAT_CORPUS=mine make run` does), and the web client shows its table of contents
and pages, answers from it (offline model) and lands citations on the cited passage.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS, open_client
from tests.support.stack import Stack, platform

pytestmark = pytest.mark.e2e
playwright = pytest.importorskip("playwright.async_api", reason="Playwright is not installed")
expect = playwright.expect

CORPUS = "birds"
HERONS = "wading-birds/herons"
HERONS_ANCHOR = "fishing-in-shallow-water"
PAGES = {
    "basics/01-welcome.md": """# Welcome to the bird book

This small book is about garden and wetland birds.

## How to read it

Start with the wading birds, then keep field notes of your own.
""",
    "wading-birds/02-storks.md": """---
title: Storks
---
# Storks

## Nesting on chimneys

White storks build large nests of sticks on chimneys and church towers every spring.
""",
    "wading-birds/herons.html": """<!doctype html>
<html><head><title>Herons</title><script>document.title = "pwned"</script></head>
<body>
<h1>Herons</h1>
<p>Herons are long-legged wading birds. <img src="heron.png" onerror="document.title='pwned'"></p>
<h2>Fishing in shallow water</h2>
<p onclick="document.title='pwned'">Grey herons stand motionless in shallow water for a long
time, then strike fish with a fast stab of their dagger-like beak.</p>
<ul><li>They hunt at dawn and dusk.</li><li>They swallow fish whole.</li></ul>
<h2>Flight</h2>
<p>In flight a heron folds its neck back into an S shape.
<a href="javascript:document.title='pwned'">more</a></p>
<script>document.title = "pwned"</script>
</body></html>
""",
    "field-notes/spring/swallows.md": """# Spring notes

## First swallows

The first swallows came back to the barn in the second week of April.
""",
}
EXPECTED_TOC = [
    "basics/01-welcome",
    "field-notes/spring/swallows",
    "wading-birds/02-storks",
    HERONS,
]
DECOY = {"decoy/01-other.md": "# A page of another corpus\n\nNot what the reader shows.\n"}


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def birds_stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("own-corpus")
    pages = write(tmp / "my-docs", PAGES)
    data = tmp / "index"
    env = {**os.environ, "RETRIEVAL_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    subprocess.run(
        [sys.executable, "-m", "services.retrieval.ingest", str(pages), "--corpus", CORPUS],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    # The start-up ingestion fills corpus `default`, as `make run` does with the demo book:
    # here with a decoy page, which the reader must not show.
    decoy = write(tmp / "decoy", DECOY)
    chosen = {"CHAT_CORPUS": CORPUS}
    with platform(
        tmp / "stack",
        database_url=database_url,
        book=decoy,
        index_from=data,
        extra_env={"chat": chosen, "gateway": chosen},
    ) as stack:
        yield stack


@pytest.fixture
async def birds_page(browser: Any, birds_stack: Stack) -> AsyncIterator[Any]:
    async with open_client(browser, birds_stack.gateway) as page:
        yield page


async def test_the_reader_shows_the_chosen_corpus_and_lands_citations(birds_page: Any) -> None:
    page = birds_page
    listed = await page.eval_on_selector_all(
        "nav a[data-page]", "links => links.map(a => a.dataset.page)"
    )
    assert listed == EXPECTED_TOC
    assert await page.locator("nav >> text=Wading birds").count() == 1
    # The first page opens; a page three folders deep opens too.
    await expect(page.locator("#book h1")).to_have_text("Welcome to the bird book")
    await page.click("nav a[data-page='field-notes/spring/swallows']")
    await page.wait_for_url("**/book/field-notes/spring/swallows")
    await expect(page.locator("#book h2#first-swallows")).to_be_visible()

    # The HTML page keeps its structure and none of its script.
    await page.click(f"nav a[data-page='{HERONS}']")
    await page.wait_for_url(f"**/book/{HERONS}")
    await expect(page.locator(f"#book h2#{HERONS_ANCHOR}")).to_be_visible()
    assert await page.locator("#book ul li").count() == 2
    assert await page.locator("#book script, #book [onerror], #book [onclick]").count() == 0
    assert await page.locator("#book a[href^='javascript']").count() == 0
    assert await page.title() != "pwned"

    # Asked from another page, the answer cites the passage; following it lands there.
    await page.click("nav a[data-page='basics/01-welcome']")
    await page.wait_for_url("**/book/basics/01-welcome")
    await page.fill("#question", "How do grey herons catch fish in shallow water?")
    await page.click("#send")
    answer = page.locator(".msg.assistant:not(.streaming)").last
    await answer.wait_for(timeout=60_000)
    cite = answer.locator(f".text a.cite[href='/book/{HERONS}#{HERONS_ANCHOR}']").first
    await expect(cite).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "own-corpus-answer.png"), full_page=True)
    await cite.click()
    await page.wait_for_url(f"**/book/{HERONS}#{HERONS_ANCHOR}")
    await expect(page.locator("#book")).to_have_attribute("data-page", HERONS)
    target = page.locator(f'#book [id="{HERONS_ANCHOR}"]')
    await expect(target).to_have_count(1)
    await expect(target).to_be_in_viewport()
    assert await page.title() != "pwned"


async def test_the_api_relays_the_chosen_corpus(birds_stack: Stack) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=birds_stack.gateway, timeout=30) as client:
        toc = (await client.get("/api/book")).json()
        assert [x["page"] for c in toc["chapters"] for x in c["lessons"]] == EXPECTED_TOC
        herons = (await client.get(f"/api/book/{HERONS}")).json()
        assert f'id="{HERONS_ANCHOR}"' in herons["html"] and "pwned" not in herons["html"]
        assert (await client.get("/api/book/decoy/01-other")).status_code == 404
