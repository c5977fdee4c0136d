"""The web client in headless Chromium against the real platform.

Gateway, chat (offline extractive model, a token delay so answers stream for a few
seconds), retrieval (the demo book, ingested at start) and store run as processes
(`tests.support.stack`). Nothing is scripted: the answers, citations, sources cards,
progress updates and the `highlight_passage` call are what the chat service emits. Which
passages the search ranks first is the retrieval eval's to judge; these tests check what the
web client does with whatever it returns.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS
from tests.support.stack import BOOK

pytestmark = pytest.mark.e2e
playwright = pytest.importorskip("playwright.async_api", reason="Playwright is not installed")
expect = playwright.expect

ASSISTANT = ".msg.assistant"
DONE = f"{ASSISTANT}:not(.streaming)"
CITATIONS_PAGE = "02-asking-the-assistant/03-citations-and-sources"
SELECTION_PAGE = "02-asking-the-assistant/01-page-context-and-selection"
SCREENSHOT = ARTIFACTS / "full-stack-answer.png"

# Records every text the progress line shows (it is hidden again as soon as the answer
# streams, often before an observer could look at it: so the added text is recorded).
WATCH_PROGRESS = """() => {
  window.progressSeen = [];
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType === Node.TEXT_NODE) window.progressSeen.push(node.data);
      }
    }
  }).observe(panel().querySelector('#progress'), {childList: true});
}"""


async def ask(page: Any, question: str) -> None:
    await page.fill("#question", question)
    await page.click("#send")


async def open_lesson(page: Any, lesson: str) -> None:
    await page.click(f"nav a[data-page='{lesson}']")
    await page.wait_for_url(f"**/book/{lesson}")


async def answer_text(page: Any, nth: int = -1) -> str:
    return str(await page.locator(f"{ASSISTANT} .text").nth(nth).inner_text())


async def text_while_streaming(page: Any, longer_than: int) -> str:
    """The answer's text, read in the browser at the moment it is longer than `longer_than`
    characters and the answer is still streaming."""
    handle = await page.wait_for_function(
        """(n) => {
          const text = panel().querySelector('.msg.assistant.streaming .text')?.innerText;
          return text && text.length > n ? text : null;
        }""",
        arg=longer_than,
    )
    return str(await handle.json_value())


def widget_titled(page: Any, title: str) -> Any:
    """The widget message whose title is exactly `title`."""
    heading = page.get_by_role("heading", name=title, exact=True)
    return page.locator(".msg.widget", has=heading)


def is_chatkit_post(request: Any) -> bool:
    return bool(request.method == "POST" and request.url.endswith("/chatkit"))


def chatkit_requests(page: Any) -> list[dict[str, Any]]:
    """Every ChatKit request body the page sends from now on."""
    sent: list[dict[str, Any]] = []

    def record(request: Any) -> None:
        if is_chatkit_post(request):
            sent.append(json.loads(request.post_data or "{}"))

    page.on("request", record)
    return sent


async def in_reader_view(page: Any, selector: str) -> None:
    """Wait until the element is scrolled into the visible part of the book pane."""
    try:
        await page.wait_for_function(
            """(selector) => {
              const el = document.querySelector(selector);
              const pane = document.querySelector('.reader').getBoundingClientRect();
              const box = el?.getBoundingClientRect();
              return box && box.top >= pane.top - 1 && box.top < pane.bottom;
            }""",
            arg=selector,
        )
    except playwright.TimeoutError:
        raise AssertionError(f"{selector} is not scrolled into the book pane") from None


# Whether `wanted` (its first words) is in the section the book pane shows from `anchor`
# (the element with that id, to the next heading of its level or above), or, without an
# anchor, in the page's opening (to its first heading after the title). Compared on
# letters and digits only: the card's snippet is plain text made from the Markdown.
SECTION_HAS = """([anchor, wanted]) => {
  const words = (text) => text.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();
  const level = (el) => (/^H[1-6]$/.test(el.tagName) ? Number(el.tagName[1]) : 7);
  const book = document.querySelector('#book');
  const start = anchor ? document.getElementById(anchor) : book.firstElementChild;
  const ends = anchor ? level(start) : 6;
  let text = start.textContent;
  for (let el = start.nextElementSibling; el && level(el) > ends; el = el.nextElementSibling) {
    text += ' ' + el.textContent;
  }
  const opening = words(wanted.replace(/…$/, '')).split(' ').slice(0, 8).join(' ');
  return words(text).includes(opening);
}"""


def lesson_size(lesson: str) -> int:
    return (BOOK / f"{lesson}.md").stat().st_size


async def card_passages(page: Any) -> dict[str, str]:
    """The sources card's passages: their marker ("[1]") -> the snippet it shows."""
    card = widget_titled(page, "Sources from the book")
    await card.wait_for()
    cols = await card.locator(".w-col").evaluate_all(
        "cols => cols.map(col => [...col.children].map(child => child.textContent))"
    )
    return {texts[0].split(" ", 1)[0]: texts[-1] for texts in cols}


async def assert_citations_land(page: Any) -> None:
    """Whatever the search returned: every citation of the last answer links to a page of
    the book and its passage. Following each (from another page) opens that page at the
    passage: the heading its anchor names, scrolled into view and flashed, or the top of the
    page for a passage before the first heading; the passage the sources card shows under the
    citation's marker is in that section. The sources list links the same places."""
    answer = page.locator(ASSISTANT).last
    marks = await answer.locator(".text a.cite").evaluate_all(
        "links => links.map(a => [a.textContent, a.getAttribute('href')])"
    )
    assert marks, "the answer cites nothing"
    listed = await answer.locator(".sources a.cite").evaluate_all(
        "links => links.map(a => [a.textContent, a.getAttribute('href')])"
    )
    by_href: dict[str, set[str]] = {}
    for label, href in marks:
        assert re.fullmatch(r"\[\d+\]", label), label
        by_href.setdefault(href, set()).add(label)
    assert {href for _, href in listed} == set(by_href), (marks, listed)
    for label, href in listed:
        assert set(re.findall(r"\[\d+\]", label.split(" ", 1)[0])) == by_href[href], label

    passages = await card_passages(page)
    lessons = await page.eval_on_selector_all(
        "nav a[data-page]", "links => links.map(a => a.dataset.page)"
    )
    for href, labels in by_href.items():
        match = re.fullmatch(r"/book/([^#]+)(?:#(.+))?", href)
        assert match, f"{href} is not a link into the book"
        lesson, anchor = match.group(1), match.group(2) or ""
        assert lesson in lessons, f"{href}: no such page in the book"
        # From the bottom of the longest other page: landing needs the page's own scrolling.
        elsewhere = max((other for other in lessons if other != lesson), key=lesson_size)
        await open_lesson(page, elsewhere)
        await page.locator(".reader").evaluate("pane => { pane.scrollTop = pane.scrollHeight; }")
        await answer.locator(f".text a.cite[href='{href}']").first.click()
        await page.wait_for_url(f"**{href}")
        await expect(page.locator("#book")).to_have_attribute("data-page", lesson)
        if anchor:
            target = f'#book [id="{anchor}"]'
            await expect(page.locator(target)).to_have_count(1)
            await expect(page.locator(target)).to_have_class(re.compile(r"(^|\s)flash(\s|$)"))
        else:
            target = "#book > :first-child"
        await in_reader_view(page, target)
        for label in labels:
            assert label in passages, f"{label} is not on the sources card"
            assert await page.evaluate(SECTION_HAS, [anchor, passages[label]]), (
                f"{href} does not land on passage {label}: {passages[label]!r}"
            )


async def test_answer_streams_with_citations_progress_and_sources(stack_page: Any) -> None:
    page = stack_page
    await open_lesson(page, CITATIONS_PAGE)
    await page.evaluate(WATCH_PROGRESS)
    sent = chatkit_requests(page)
    await ask(page, "How are citations shown to the reader?")

    # Streamed: part of the text is on screen while the answer is still coming.
    partial = await text_while_streaming(page, longer_than=20)
    await page.wait_for_selector(DONE)
    final = await answer_text(page)
    assert len(partial) < len(final) and final.startswith(partial[:20])
    assert "Searching" in " ".join(await page.evaluate("window.progressSeen"))
    assert await page.locator("#progress").is_hidden()
    assert sent[0]["metadata"]["page_context"] == {
        "current_chapter": 2,
        "current_lesson": "citations-and-sources",
        "current_page": CITATIONS_PAGE,
    }

    # Citations: "[n]" markers linked to the book (where to: `assert_citations_land`).
    cites = page.locator(f"{ASSISTANT} .text a.cite")
    assert await cites.count() >= 1
    assert (await cites.first.inner_text()).strip("[]").isdigit()
    assert await page.locator(f"{ASSISTANT} .sources a.cite").count() >= 1
    assert "**" not in final and "`" not in final  # inline Markdown rendered

    # The sources card the chat service streamed, rendered from its widget tree.
    card = widget_titled(page, "Sources from the book")
    await card.wait_for()
    assert await card.locator("svg.w-icon").count() == 1
    assert await card.locator(".w-col").count() >= 1
    assert (await card.locator(".w-col .w-text").first.inner_text()).startswith("[1] ")
    more = card.locator("button.w-button", has_text="Show more from chapter 2")
    assert await more.is_enabled()

    await page.locator(f"{ASSISTANT} .text").last.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT))

    # "Show more from this chapter": a widget action, answered with another card.
    await more.click()
    extra = widget_titled(page, "More from chapter 2")
    await extra.wait_for()
    action = sent[-1]
    assert action["type"] == "threads.custom_action"
    assert action["params"]["action"]["type"] == "sources.more"
    assert await extra.locator(".w-col").count() >= 1
    assert "Looking for more in chapter 2…" in await page.evaluate("window.progressSeen")
    # The first card was replaced in place, its button disabled now that it was used.
    kinds = await page.eval_on_selector_all(
        "#messages > .msg", "els => els.map(e => e.className.replace('msg ', ''))"
    )
    assert kinds == ["user", "widget", "assistant", "widget"]
    assert await card.locator("button.w-button").is_disabled()

    # Following a citation from another page opens the lesson at the cited passage.
    await assert_citations_land(page)

    await page.locator(f"{ASSISTANT} .feedback button.positive").click()
    await page.wait_for_selector(f"{ASSISTANT} .feedback >> text=Thanks for the feedback.")


async def test_asking_about_a_selection(stack_page: Any) -> None:
    page = stack_page
    await open_lesson(page, SELECTION_PAGE)
    selected = await page.evaluate(
        """() => {
          const p = document.querySelector('#book p');
          const r = document.createRange(); r.selectNodeContents(p);
          const s = getSelection(); s.removeAllRanges(); s.addRange(r);
          return s.toString().replace(/\\s+/g, ' ').trim();
        }"""
    )
    await page.wait_for_selector("#selection:not([hidden])")
    sent = chatkit_requests(page)
    await ask(page, "What does this mean?")
    await page.wait_for_selector(DONE)

    assert sent[0]["params"]["input"]["quoted_text"] == selected
    assert sent[0]["metadata"]["selected_text"] == selected
    assert await page.locator(".msg.user blockquote").inner_text() == selected
    assert await page.locator("#selection").is_hidden()  # used once, then cleared
    await assert_citations_land(page)


async def test_stop_keeps_the_partial_answer(stack_page: Any) -> None:
    page = stack_page
    await ask(page, "How do I stop an answer that is streaming?")
    await page.wait_for_function(
        "() => panel().querySelector('.msg.assistant.streaming .text')?.innerText.length > 10"
    )
    async with page.expect_event("requestfailed", is_chatkit_post) as aborted:
        await page.click("#stop")
    assert "ABORTED" in ((await aborted.value).failure or "")  # the stream is closed
    await page.wait_for_selector(".msg.notice >> text=Stopped")
    assert await page.locator("#stop").is_hidden()
    assert await page.locator("#send").is_enabled()
    stopped = await answer_text(page)

    # The thread goes on: the partial answer was saved and a new question is answered.
    await page.reload()
    await page.wait_for_selector("body.ready")
    await page.click("#threads-toggle")
    await page.click(".thread-item .open >> text=How do I stop an answer")
    await page.wait_for_selector(f"{ASSISTANT} .text")
    kept = await answer_text(page)
    assert kept.startswith(stopped.rstrip()[:10])
    assert len(kept) < len(stopped) + 200  # at most what was in flight when it was stopped
    await ask(page, "And how do I reopen a thread?")
    await page.wait_for_selector(f"{DONE} >> nth=1")
    assert await page.locator(f"{ASSISTANT} .text a.cite").count() >= 1


async def test_highlight_passage_client_tool(stack_page: Any) -> None:
    page = stack_page
    sent = chatkit_requests(page)
    await ask(page, "Show me where the sources card is explained")
    await page.wait_for_selector("#book mark.passage")
    marked = "".join(await page.locator("#book mark.passage").all_inner_texts())
    assert len(marked) > 200  # the passage, not just the start the client searched for
    assert "/book/" in page.url
    await in_reader_view(page, "#book mark.passage")
    await page.wait_for_selector(f"{ASSISTANT} >> text=highlighted the passage")
    output = next(r for r in sent if r["type"] == "threads.add_client_tool_output")
    assert output["params"]["result"]["highlighted"] is True
    assert await page.locator(".msg.tool").inner_text() == "Highlighted the passage in the book."


async def test_threads_reopen_rename_delete(stack_page: Any) -> None:
    page = stack_page
    await ask(page, "What is page context?")
    await page.wait_for_selector(DONE)
    first_answer = await answer_text(page)
    await page.click("#new-thread")
    await ask(page, "What are search scopes?")
    await page.wait_for_selector(DONE)

    await page.reload()
    await page.wait_for_selector("body.ready")
    await page.click("#threads-toggle")
    await page.wait_for_selector(".thread-item >> text=What is page context?")
    assert await page.locator(".thread-item").count() == 2
    await page.click(".thread-item .open >> text=What is page context?")
    await page.wait_for_selector(".msg.user >> text=What is page context?")
    assert await answer_text(page) == first_answer
    assert await page.locator(f"{ASSISTANT} a.cite").count() >= 1
    assert await widget_titled(page, "Sources from the book").count() == 1
    assert await page.inner_text("#thread-title") == "What is page context?"

    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept("Page context notes")))
    row = page.locator(".thread-item", has_text="What is page context?")
    await row.locator("button.rename").click()
    await page.wait_for_selector(".thread-item >> text=Page context notes")
    assert await page.inner_text("#thread-title") == "Page context notes"

    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    second = page.locator(".thread-item", has_text="What are search scopes?")
    await second.locator("button.delete").click()
    await page.wait_for_function("() => panel().querySelectorAll('.thread-item').length === 1")

    await page.reload()  # both changes were saved
    await page.wait_for_selector("body.ready")
    await page.click("#threads-toggle")
    await page.wait_for_selector(".thread-item >> text=Page context notes")
    assert await page.locator(".thread-item").count() == 1
