"""The web client in headless Chromium against a running stack (gateway, test upstream, store)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS, watch_csp
from tests.integration.gateway.upstream import CITED_ANCHOR, CITED_PAGE, CITED_TEXT, Control
from tests.support.waiting import until

pytestmark = pytest.mark.e2e

ASSISTANT = ".msg.assistant"


async def ask(page: Any, question: str) -> None:
    await page.fill("#question", question)
    await page.click("#send")


# Selects the thread title (in the chat panel) and resolves once the page has handled the
# `selectionchange` it causes: this listener comes after the web client's own.
SELECT_IN_CHAT_PANEL = """() => new Promise((handled) => {
  document.addEventListener('selectionchange', () => handled(), {once: true});
  const r = document.createRange();
  r.selectNodeContents(panel().querySelector('#thread-title'));
  const s = getSelection(); s.removeAllRanges(); s.addRange(r);
})"""


READER_PAGE_PARTS = """() => {
  const element = document.querySelector("book-assistant");
  const inside = element?.shadowRoot;
  return {
    elements: document.querySelectorAll("book-assistant").length,
    docked: element?.hasAttribute("docked"),
    inShadow: ["#question", "#messages", "#threads"].every((id) => inside?.querySelector(id)),
    inPage: document.querySelectorAll("#question, #messages, #composer").length,
    bookInPage: Boolean(document.querySelector("#book")),
  };
}"""


async def test_the_reader_page_is_the_embed_beside_the_book(page: Any) -> None:
    """The bundled page is built on <book-assistant>: one panel markup (the element's, in
    its shadow root), none of its own; the book stays in the page."""
    parts = await page.evaluate(READER_PAGE_PARTS)
    assert parts == {
        "elements": 1,
        "docked": True,
        "inShadow": True,
        "inPage": 0,
        "bookInPage": True,
    }


async def test_streamed_answer_with_citation(page: Any, e2e_control: Control) -> None:
    e2e_control.deltas, e2e_control.interval_s = 30, 0.08
    await page.click(f"nav a[data-page='{CITED_PAGE}']")
    await ask(page, "What is page context?")
    # Text shows up while the answer is still streaming.
    shown = await page.wait_for_function(
        """() => {
          const text = panel().querySelector('.msg.assistant.streaming .text')?.innerText;
          return text?.includes('word3') ? text : null;
        }"""
    )
    assert "word29" not in await shown.json_value()  # read while the answer was streaming
    await page.wait_for_selector(f"{ASSISTANT}:not(.streaming) >> text=word29")
    cite = page.locator(f"{ASSISTANT} .text a.cite").first
    assert await cite.get_attribute("href") == f"/book/{CITED_PAGE}#{CITED_ANCHOR}"
    assert await page.locator(".msg.widget >> text=Sources from the book").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "web-client-answer.png"), full_page=True)

    sent = e2e_control.requests[0]
    assert sent["type"] == "threads.create"
    assert sent["metadata"]["page_context"] == {
        "current_chapter": 2,
        "current_lesson": "page-context-and-selection",
        "current_page": CITED_PAGE,
    }

    await page.click("nav a[data-page='01-getting-started/01-what-is-it']")
    await page.wait_for_url("**/book/01-getting-started/01-what-is-it")
    await cite.click()
    await page.wait_for_url(f"**/book/{CITED_PAGE}#{CITED_ANCHOR}")
    assert await page.locator(f"#book h2#{CITED_ANCHOR}").is_visible()


async def test_asking_about_a_selection(page: Any, e2e_control: Control) -> None:
    await page.click(f"nav a[data-page='{CITED_PAGE}']")
    await page.wait_for_selector(f"#book h2#{CITED_ANCHOR}")
    # A selection in the chat panel is ignored...
    await page.evaluate(SELECT_IN_CHAT_PANEL)
    assert await page.locator("#selection").is_hidden()
    # ...one in the book is what the question is about.
    selected = await page.evaluate(
        """() => {
          const p = document.querySelector('#book p');
          const r = document.createRange(); r.selectNodeContents(p);
          const s = getSelection(); s.removeAllRanges(); s.addRange(r);
          return s.toString().replace(/\\s+/g, ' ').trim();
        }"""
    )
    await page.wait_for_selector("#selection:not([hidden])")
    await ask(page, "Explain this")
    await page.wait_for_selector(f"{ASSISTANT}:not(.streaming) >> text=word4")
    sent = e2e_control.requests[0]
    assert sent["params"]["input"]["quoted_text"] == selected
    assert sent["metadata"]["selected_text"] == selected
    assert sent["metadata"]["page_context"]["current_page"] == CITED_PAGE
    assert await page.locator(".msg.user blockquote").inner_text() == selected
    assert await page.locator("#selection").is_hidden()  # used once, then cleared


def _sent(kind: str) -> Any:
    def matches(request: Any) -> bool:
        body = request.post_data or ""
        return request.method == "POST" and f'"type":"{kind}"' in body.replace(" ", "")

    return matches


async def test_a_structured_input_is_answered_in_place(page: Any, e2e_control: Control) -> None:
    """The assistant's questions (a `structured_input` item): a choice and free text,
    answered with `threads.add_structured_input`; shown answered, also once reopened."""
    await ask(page, "Ask me first, please")
    form = page.locator(".msg.structured form.structured-input")
    await form.wait_for()
    await form.get_by_label("Asking the assistant").check()
    await form.get_by_label("What do you want to know?").fill("How citations work")
    async with page.expect_request(_sent("threads.add_structured_input")) as sent:
        await form.get_by_role("button", name="Send answers").click()
    params = json.loads((await sent.value).post_data)["params"]
    assert params["input"] == {
        "status": "answered",
        "answers": {
            "chapter": {"values": ["Asking the assistant"], "skipped": False},
            "why": {"values": ["How citations work"], "skipped": False},
        },
    }
    said = "Which chapter? Asking the assistant; What do you want to know? How citations work"
    await page.locator(f"{ASSISTANT}:not(.streaming) >> text=Thanks (answered)").wait_for()
    assert said in await page.locator(ASSISTANT).last.inner_text()
    done = page.locator(".msg.structured dl.structured-input.done")
    assert "How citations work" in await done.inner_text()
    assert await page.locator(".msg.structured form").count() == 0  # answered in place

    await page.reload()
    await page.wait_for_selector("body.ready")
    await done.wait_for()
    assert await page.locator(".msg.structured form").count() == 0
    assert "Asking the assistant" in await done.inner_text()

    # Skipped: nothing answered, and the assistant is told so.
    await ask(page, "Ask me first again")
    await page.locator(".msg.structured form").get_by_role("button", name="Skip").click()
    await page.locator(f"{ASSISTANT}:not(.streaming) >> text=Thanks (skipped)").wait_for()
    assert await page.locator(".msg.structured dl.done").last.inner_text() == (
        "Which chapter?\nSkipped\nWhat do you want to know?\nSkipped"
    )


async def test_stop_button_aborts_the_stream(page: Any, e2e_control: Control) -> None:
    e2e_control.deltas, e2e_control.interval_s = 400, 0.05
    await ask(page, "Tell me everything")
    await page.wait_for_selector(f"{ASSISTANT} >> text=word5")
    await page.click("#stop")
    await until(lambda: e2e_control.cancelled_at, what="the upstream seeing the cancel")
    assert e2e_control.deltas_sent < e2e_control.deltas  # cut short, not run to its end
    await page.wait_for_selector(".msg.notice >> text=Stopped")
    assert await page.locator("#stop").is_hidden()
    assert await page.locator("#send").is_enabled()


async def test_threads_reopen_rename_delete(page: Any, e2e_control: Control) -> None:
    await ask(page, "First question")
    await page.wait_for_selector(f"{ASSISTANT}:not(.streaming) >> text=word4")
    await page.click("#new-thread")
    await ask(page, "Second question")
    await page.wait_for_selector(f"{ASSISTANT}:not(.streaming) >> text=word4")

    await page.reload()
    await page.wait_for_selector("body.ready")
    await page.click("#threads-toggle")
    rows = page.locator(".thread-item")
    await page.wait_for_selector(".thread-item >> text=First question")
    assert await rows.count() == 2
    await page.click(".thread-item .open >> text=First question")
    await page.wait_for_selector(".msg.user >> text=First question")
    assert await page.locator(f"{ASSISTANT} a.cite").count() >= 1
    assert await page.inner_text("#thread-title") == "First question"

    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept("Renamed thread")))
    await page.locator(".thread-item", has_text="First question").locator(".rename").click()
    await page.wait_for_selector(".thread-item >> text=Renamed thread")
    assert await page.inner_text("#thread-title") == "Renamed thread"

    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.locator(".thread-item", has_text="Second question").locator(".delete").click()
    await page.wait_for_function("() => panel().querySelectorAll('.thread-item').length === 1")


async def test_highlight_passage_client_tool(page: Any, e2e_control: Control) -> None:
    await ask(page, "Please highlight where this is explained")
    await page.wait_for_selector("#book mark.passage")
    # One mark per text node, so the page keeps its structure (here: code, then text).
    marked = "".join(await page.locator("#book mark.passage").all_inner_texts())
    assert CITED_TEXT.replace("`", "").lower() in marked.lower()
    assert page.url.endswith(f"/book/{CITED_PAGE}")
    await page.wait_for_selector(f"{ASSISTANT} >> text=Highlighted it in the book.")
    output = e2e_control.requests[-1]
    assert output["type"] == "threads.add_client_tool_output"
    assert output["params"]["result"]["highlighted"] is True


# -- foreign script ------------------------------------------------------------------

XSS_MARKER = "xss-ran"
HOSTILE_LESSON = {
    "lesson": {"page": "x/y", "title": "pwned", "chapter": 1, "lesson": "x"},
    "html": (
        '<img src="/static/none.png" onerror="document.title=\'pwned\';'
        f"console.log('{XSS_MARKER}');alert(1)\">"
        '<p id="from-attachment">Rendered from an attachment.</p>'
    ),
    "previous": None,
    "next": None,
}
"""An uploaded text file shaped as the gateway's lesson JSON, with a script in its HTML."""

UPLOAD = """async (text) => {
  const form = new FormData();
  form.append("file", new Blob([text], {type: "text/plain"}), "lesson.txt");
  const response = await fetch("/attachments", {method: "POST", body: form});
  return (await response.json()).id;
}"""


def crafted_link(attachment_id: str) -> str:
    """A book link whose encoded `/`s lead from /api/book/ to the attachment's bytes."""
    return f"/book/..%2F..%2Fattachments%2F{attachment_id}%2Fcontent"


class ScriptWatch:
    """What a foreign script would leave behind on the pages it watches."""

    def __init__(self) -> None:
        self.console: list[str] = []
        self.dialogs: list[str] = []

    def watch(self, page: Any) -> Any:
        page.on("console", lambda message: self.console.append(message.text))
        page.on("dialog", self._dialog)
        return page

    async def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    async def assert_nothing_ran(self, page: Any) -> None:
        assert "pwned" not in await page.title()
        assert XSS_MARKER not in self.console and not self.dialogs
        assert await page.locator("#from-attachment").count() == 0


async def test_a_crafted_book_link_renders_no_attachment(page: Any) -> None:
    attachment_id = await page.evaluate(UPLOAD, json.dumps(HOSTILE_LESSON))
    first_title = await page.title()
    watch = ScriptWatch()
    watch.watch(page)
    await page.goto(crafted_link(attachment_id))
    await page.wait_for_selector("body.ready")
    await page.wait_for_selector("#book h1")  # the first lesson instead
    assert await page.title() == first_title
    await watch.assert_nothing_ran(page)
    # Followed from inside the page (as a link in a lesson is), it opens nothing either.
    followed = await page.evaluate(
        "(href) => window.bookAssistant.book.follow(href)", crafted_link(attachment_id)
    )
    assert followed is False
    await watch.assert_nothing_ran(page)


async def test_a_crafted_citation_and_highlight_run_no_script(
    page: Any, e2e_control: Control
) -> None:
    attachment_id = await page.evaluate(UPLOAD, json.dumps(HOSTILE_LESSON))
    e2e_control.cited_url = crafted_link(attachment_id)
    e2e_control.highlight_document_id = f"../../attachments/{attachment_id}/content"
    watch = ScriptWatch()
    watch.watch(page)
    await ask(page, "Please highlight where this is explained")
    await until(
        lambda: (
            bool(e2e_control.requests)
            and e2e_control.requests[-1]["type"] == "threads.add_client_tool_output"
        ),
        what="the client tool's output",
    )
    assert e2e_control.requests[-1]["params"]["result"]["highlighted"] is False
    await watch.assert_nothing_ran(page)
    # The citation is not a page of the book: it opens in a tab of its own, which shows the
    # book's first lesson and nothing of the attachment.
    async with page.context.expect_page() as opened:
        await page.locator(f"{ASSISTANT} .text a.cite").first.click()
    tab = watch.watch(await opened.value)
    await tab.wait_for_selector("body.ready")
    await tab.wait_for_selector("#book h1")
    await watch.assert_nothing_ran(tab)
    await watch.assert_nothing_ran(page)


SAFE_HREFS = """async () => {
  const { appendMarkdown, safeHref } = await import("/static/markdown.js");
  const hrefs = ["//evil.example/x", "/\\\\evil.example/x", " //evil.example",
    "javascript:alert(1)", "data:text/html,x", "/book/a/b#c", "https://example.com/a",
    "HTTP://example.com/"];
  const box = document.createElement("div");
  appendMarkdown(box, "[other site](//evil.example/x)");
  return { safe: hrefs.filter((href) => safeHref(href)), links: box.querySelectorAll("a").length };
}"""


async def test_markdown_links_stay_on_http_and_this_site(page: Any) -> None:
    checked = await page.evaluate(SAFE_HREFS)
    assert checked == {
        "safe": ["/book/a/b#c", "https://example.com/a", "HTTP://example.com/"],
        "links": 0,
    }


async def test_a_violation_of_the_policy_is_seen(browser: Any, stack_url: str) -> None:
    """The CSP watch every test relies on does report what the policy blocks."""
    context = await browser.new_context(base_url=stack_url)
    try:
        violations = await watch_csp(context)
        page = await context.new_page()
        response = await page.goto("/")
        assert "trusted-types book" in response.headers["content-security-policy"]
        await page.wait_for_selector("body.ready")
        await page.evaluate(
            """() => {
              const img = document.createElement("img");
              img.src = "http://127.0.0.1:9/not-https.png";
              document.body.append(img);
            }"""
        )
        await until(lambda: violations, what="the img-src violation")
        assert violations[0].startswith("img-src: http://127.0.0.1:9/not-https.png")
        with pytest.raises(Exception, match="TrustedHTML"):
            await page.evaluate("() => { document.body.innerHTML = '<b>not the book</b>'; }")
    finally:
        await context.close()
