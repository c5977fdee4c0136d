"""The assistant embedded in a documentation site nobody here wrote: Debian's
`python-django-doc` HTML build (a few of its folders, `tests.support.site_builds`), served
from an origin of its own with the two embed lines added as pages are sent, that same build
ingested with `--site-url` pointing at that origin, and the platform (offline model) behind
the gateway, which lists the site in `GATEWAY_CORS_ORIGINS`.

Checked in Chromium: the page context sent for a page (chapter and lesson from its URL, as
the gateway's table of contents numbers them), a streamed answer whose citations link to the
site's own pages, a selection on the page sent as `selected_text` (one in the panel never),
the site's styles and scripts untouched either way, an answer stopped, the tutor's quiz
form answered and graded, the panel under a strict CSP header
(nothing of the embed refused), @openai/chatkit's option names honoured. Screenshots (light,
dark, phone) go to `artifacts/embed/`. Nothing asserts what the search ranks first.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.gateway.embed import VERSIONED
from tests.e2e.conftest import ARTIFACTS, require_axe
from tests.support.host_site import HostSite
from tests.support.servers import free_port, serve
from tests.support.site_builds import DJANGO, MissingPackage, django_build
from tests.support.stack import platform

pytestmark = pytest.mark.e2e
playwright = pytest.importorskip("playwright.async_api", reason="Playwright is not installed")
expect = playwright.expect

CORPUS = "django"
PAGE = "faq/install"
SHOTS = ARTIFACTS / "embed"
PANEL = "book-assistant"
ANSWER = f"{PANEL} .msg.assistant:not(.streaming)"
ANSWER_TIMEOUT_MS = 90_000

# Selects the first paragraph of the page's own content; resolves once the embed (whose
# listener came first) has seen the `selectionchange`.
SELECT_ON_PAGE = """() => new Promise((handled) => {
  const p = [...document.querySelectorAll('[role=main] p, .body p, p')]
    .find((el) => el.textContent.trim().length > 40);
  document.addEventListener('selectionchange', () => handled(getSelection().toString()),
    {once: true});
  const r = document.createRange();
  r.selectNodeContents(p);
  const s = getSelection(); s.removeAllRanges(); s.addRange(r);
})"""
SELECT_IN_PANEL = """() => new Promise((handled) => {
  const text = document.querySelector('book-assistant').shadowRoot
    .querySelector('.msg.assistant .text');
  document.addEventListener('selectionchange', () => handled(), {once: true});
  const r = document.createRange();
  r.selectNodeContents(text);
  const s = getSelection(); s.removeAllRanges(); s.addRange(r);
})"""
# The computed styles of the page's own elements, to compare with and without the embed.
HOST_STYLES = """() => [...document.querySelectorAll('body, h1, h2, p, a, pre, li, button')]
  .filter((el) => !el.closest('book-assistant'))
  .slice(0, 200)
  .map((el) => { const s = getComputedStyle(el);
    return [el.tagName, s.color, s.backgroundColor, s.fontFamily, s.fontSize, s.margin,
      s.display].join('|'); })"""
GLOBALS = "() => Object.keys(window).sort()"
OPTIONS_JS = """// The host page's options for the element, in @openai/chatkit's names.
window.tagSearches = [];
window.clientTools = [];
document.querySelector("book-assistant").options = {
  api: { url: "%(gateway)s/chatkit", domainKey: "unused-here", token: async () => "host-token" },
  theme: { colorScheme: "dark", color: { accent: { primary: "rgb(200, 60, 120)", level: 1 } } },
  startScreen: {
    greeting: "Questions about Django?",
    prompts: [{ label: "Install Django", prompt: "How do I install Django?" }],
  },
  composer: { placeholder: "Ask the Django docs" },
  header: { enabled: true, title: { text: "Django helper" } },
  history: { enabled: false },
  onClientTool: async ({ name, params }) => { window.clientTools.push(name); return { ok: true }; },
  entities: {
    onTagSearch: async (query) => {
      window.tagSearches.push(query);
      return [{ id: "page:faq/install", title: "FAQ: Installation", group: "Pages" }];
    },
  },
};
"""


ATTACH_JS = """// Attachments asked for, in @openai/chatkit's names.
document.querySelector("book-assistant").options = {
  api: { url: "%(gateway)s/chatkit", uploadStrategy: { type: "%(strategy)s" } },
  composer: { attachments: { enabled: true, accept: { "image/png": [".png"] }, maxCount: 2 } },
};
"""
# A 1x1 PNG: the gateway checks that the bytes look like the type they claim.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@dataclass
class DocsSite:
    site: HostSite
    url: str
    gateway: str
    build: Path


@pytest.fixture(scope="module")
def docs_site(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocsSite]:
    tmp = tmp_path_factory.mktemp("embed")
    try:
        build = django_build(tmp / "site")
    except MissingPackage as exc:
        pytest.skip(f"the embed is tested on a real site: {exc}")
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    data = tmp / "index"
    env = {**os.environ, "RETRIEVAL_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    subprocess.run(
        [
            *(sys.executable, "-m", "services.retrieval.ingest", str(build.root)),
            *("--corpus", CORPUS, "--site-url", f"{origin}/", "--quiet"),
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    decoy = tmp / "decoy"
    (decoy / "01-x").mkdir(parents=True)
    (decoy / "01-x" / "01-x.md").write_text("# Not this corpus\n\nA decoy page.\n", "utf-8")
    chosen = {"CHAT_CORPUS": CORPUS}
    with platform(
        tmp / "stack",
        database_url=database_url,
        book=decoy,
        index_from=data,
        token_delay_ms=25,  # answers stream long enough to be stopped
        extra_env={"chat": chosen, "gateway": {**chosen, "GATEWAY_CORS_ORIGINS": origin}},
    ) as stack:
        site = HostSite(build.root, stack.gateway, assets=DJANGO)
        with serve(site.app(), port=port) as url:
            yield DocsSite(site, url, stack.gateway, build.root)


@pytest.fixture
async def host(browser: Any, docs_site: DocsSite) -> AsyncIterator[Any]:
    """A fresh context (a new reader) on the site; fails on JavaScript errors of the embed."""
    docs_site.site.csp = None
    docs_site.site.options_js = ""
    async with _context(browser, docs_site, {"width": 1280, "height": 900}) as page:
        yield page


class _Watched:
    def __init__(self, browser: Any, docs: DocsSite, viewport: dict[str, int]) -> None:
        self.browser, self.docs, self.viewport = browser, docs, viewport
        self.errors: list[str] = []
        self.violations: list[dict[str, str]] = []

    async def __aenter__(self) -> Any:
        self.context = await self.browser.new_context(
            base_url=self.docs.url, viewport=self.viewport
        )
        await self.context.expose_binding(
            "reportCsp", lambda _, v: self.violations.append(json.loads(v))
        )
        await self.context.add_init_script(
            """document.addEventListener("securitypolicyviolation", (e) => reportCsp(
                 JSON.stringify({directive: e.effectiveDirective, blocked: e.blockedURI,
                                 source: e.sourceFile || ""})));"""
        )
        page = await self.context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", lambda m: print("console:", m.type, m.text[:300]))
        page.violations = self.violations  # read by the CSP test
        return page

    async def __aexit__(self, *exc: object) -> None:
        await self.context.close()
        gateway = self.docs.gateway
        ours = [e for e in self.errors if gateway in e or "book-assistant" in e]
        assert not ours, f"JavaScript errors of the embed: {ours}"
        refused = [v for v in self.violations if gateway in v["source"] or gateway in v["blocked"]]
        assert not refused, f"the host's policy refused the embed: {refused}"


def _context(browser: Any, docs: DocsSite, viewport: dict[str, int]) -> _Watched:
    return _Watched(browser, docs, viewport)


async def _open(page: Any, path: str) -> None:
    await page.goto(path)
    await page.wait_for_selector(f"{PANEL}[ready]", state="attached")


def _expected_context(gateway: str, page: str) -> dict[str, Any]:
    toc = httpx.get(f"{gateway}/api/book", timeout=30).json()
    for chapter in toc["chapters"]:
        for lesson in chapter["lessons"]:
            if lesson["page"] == page:
                assert chapter["slug"] == page.split("/")[0]
                assert isinstance(lesson["chapter"], int)  # a site folder is a numbered chapter
                return {
                    "current_chapter": lesson["chapter"],
                    "current_lesson": lesson["lesson"],
                    "current_page": page,
                }
    raise AssertionError(f"{page} is not in the table of contents")


def _chatkit_request(kind: str) -> Any:
    def matches(request: Any) -> bool:
        if request.method != "POST" or not request.url.endswith("/chatkit"):
            return False
        return json.loads(request.post_data or "{}").get("type") == kind

    return matches


def _in_build(build: Path, origin: str, href: str) -> bool:
    """`href` is a page of the site (and its fragment an id on that page)."""
    assert href.startswith(f"{origin}/"), href
    rel, _, fragment = href[len(origin) + 1 :].partition("#")
    path = build / rel
    if not path.is_file():
        return False
    return not fragment or f'id="{fragment}"' in path.read_text("utf-8", errors="replace")


async def test_a_question_on_a_django_docs_page(host: Any, docs_site: DocsSite) -> None:
    page = host
    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nembed screenshots: {SHOTS}")
    await _open(page, f"/{PAGE}.html")
    # The host page's own script ran and its rules stay its own: they do not reach the panel.
    assert await page.get_attribute("html", "data-host-script") == "ran"
    await page.click("#host-button")
    assert await page.get_attribute("#host-button", "data-clicks") == "1"
    await expect(page.locator("#host-button")).to_have_css("color", "rgb(255, 0, 0)")
    launcher = page.locator(f"{PANEL} .launcher")
    await expect(launcher).to_be_visible()  # the host's `.launcher {display: none}` stops outside
    assert await launcher.evaluate("el => getComputedStyle(el).color") != "rgb(255, 0, 0)"

    # A selection on the page is the question's selected_text.
    selected = " ".join((await page.evaluate(SELECT_ON_PAGE)).split())
    await launcher.click()
    await expect(page.locator(f"{PANEL} #selection")).to_be_visible()
    await page.fill(f"{PANEL} #question", "How do I install Django?")
    async with page.expect_request(_chatkit_request("threads.create")) as sent:
        await page.click(f"{PANEL} #send")
    body = json.loads((await sent.value).post_data)
    assert body["metadata"]["page_context"] == _expected_context(docs_site.gateway, PAGE)
    assert body["metadata"]["selected_text"] == selected[:4000]
    assert body["params"]["input"]["quoted_text"] == selected[:4000]

    # The answer streams in, its citations linking to the site's own pages.
    answer = page.locator(ANSWER).last
    await answer.wait_for(timeout=ANSWER_TIMEOUT_MS)
    cites = await answer.locator("a.cite").evaluate_all("links => links.map(a => a.href)")
    assert cites, "the answer cites no page of the site"
    assert all(_in_build(docs_site.build, docs_site.url, href) for href in cites), cites
    await page.screenshot(path=str(SHOTS / "light.png"))

    # A selection inside the panel is not the page's: the next question goes without one.
    await page.evaluate(SELECT_IN_PANEL)
    await page.fill(f"{PANEL} #question", "And which Python version?")
    async with page.expect_request(_chatkit_request("threads.add_user_message")) as sent:
        await page.click(f"{PANEL} #send")
    assert json.loads((await sent.value).post_data)["metadata"]["selected_text"] is None
    await expect(page.locator(ANSWER)).to_have_count(2, timeout=ANSWER_TIMEOUT_MS)

    # Following a citation opens the site's page; the panel carries on with the thread there.
    target = cites[0]
    await answer.locator("a.cite").first.click()
    await page.wait_for_url(target.split("#")[0] + "*")
    await page.wait_for_selector(f"{PANEL}[ready]", state="attached")
    await expect(page.locator(f"{PANEL} #panel")).to_be_visible()
    await expect(page.locator(ANSWER)).to_have_count(2)


async def test_a_page_from_the_last_release_loads_this_ones_element(
    host: Any, docs_site: DocsSite
) -> None:
    """During a rolling deploy a page may get `/embed.js` from a pod of the last release:
    its import names that release's version, which this gateway no longer has. The element
    still loads, every module of it from this release (none 404, none of two releases)."""
    page = host
    old_release = "0123456789abcdef"
    assert f"/v/{old_release}/" not in VERSIONED

    async def old_entry(route: Any) -> None:
        body = f'import "./v/{old_release}/static/embed/element.js";\n'
        await route.fulfill(
            body=body,
            content_type="text/javascript",
            headers={"access-control-allow-origin": docs_site.url},
        )

    await page.route(f"{docs_site.gateway}/embed.js", old_entry)
    statuses: dict[str, int] = {}
    page.on("response", lambda r: statuses.__setitem__(r.url, r.status))
    await _open(page, f"/{PAGE}.html")
    await page.click(f"{PANEL} .launcher")
    await expect(page.locator(f"{PANEL} #question")).to_be_visible()
    modules = {url: status for url, status in statuses.items() if "/static/" in url}
    assert modules[f"{docs_site.gateway}/v/{old_release}/static/embed/element.js"] == 307
    served = {u for u, status in modules.items() if status == 200}
    assert f"{docs_site.gateway}{VERSIONED}/chat.js" in served
    assert all(u.startswith(f"{docs_site.gateway}{VERSIONED}/") for u in served), served
    assert len(modules) == len(served) + 1, modules  # only the old element.js redirected


STREAMING = """() => document.querySelector('book-assistant').shadowRoot
  .querySelector('.msg.assistant.streaming .text')?.innerText.length > 10"""


async def test_stop_and_a_quiz_form_on_the_docs_site(host: Any, docs_site: DocsSite) -> None:
    """An answer stopped mid-stream keeps its part; the tutor's quiz (a widget form) on the
    page's own passages is answered and graded in place."""
    page = host
    await _open(page, f"/{PAGE}.html")
    await page.click(f"{PANEL} .launcher")
    await page.fill(f"{PANEL} #question", "How do I install Django?")
    await page.click(f"{PANEL} #send")
    await page.wait_for_function(STREAMING)
    await page.click(f"{PANEL} #stop")
    await page.wait_for_selector(f"{PANEL} .msg.notice >> text=Stopped")
    await expect(page.locator(f"{PANEL} #send")).to_be_enabled()

    await page.fill(f"{PANEL} #question", "Quiz me on this page")
    await page.click(f"{PANEL} #send")
    card = page.locator(f"{PANEL} .msg.widget", has=page.locator("form")).last
    await card.wait_for(timeout=ANSWER_TIMEOUT_MS)
    fields = card.get_by_role("textbox")
    count = await fields.count()
    assert count >= 1
    await fields.first.fill("zzzz")
    await card.get_by_role("button", name="Check my answers").click()
    await expect(page.locator(ANSWER).last).to_contain_text(
        f"You got 0 of {count} right.", timeout=ANSWER_TIMEOUT_MS
    )
    assert await page.locator(f"{PANEL} .msg.widget form").count() == 0  # graded in place


async def test_a_quiz_off_the_book_asks_which_chapter(host: Any, docs_site: DocsSite) -> None:
    """On a page of the site that was not ingested (its search page), "quiz me" has no
    lesson: the tutor asks which chapter (a structured input of the book's chapters), and
    the reader's pick is quizzed on."""
    page = host
    await _open(page, "/search.html")
    await page.click(f"{PANEL} .launcher")
    await page.fill(f"{PANEL} #question", "Quiz me")
    await page.click(f"{PANEL} #send")
    form = page.locator(f"{PANEL} .msg.structured form.structured-input")
    await form.wait_for(timeout=ANSWER_TIMEOUT_MS)
    choices = form.get_by_role("radio")
    assert await choices.count() >= 2
    pick = await choices.first.get_attribute("value")
    await choices.first.check()
    # Sent at once, likely while the tutor still writes its sentence: it goes once that ends.
    await form.get_by_role("button", name="Send answers").click()
    card = page.locator(f"{PANEL} .msg.widget", has=page.locator("form")).last
    await card.wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert await card.get_by_role("textbox").count() >= 1
    await expect(page.locator(f"{PANEL} .msg.structured dl.done")).to_contain_text(pick or "")
    await expect(page.locator(ANSWER).last).to_contain_text(f"Here is a quiz on {pick}")


async def test_highlight_passage_on_the_host_page(host: Any, docs_site: DocsSite) -> None:
    page = host
    await _open(page, f"/{PAGE}.html")
    await page.click(f"{PANEL} .launcher")
    await page.fill(f"{PANEL} #question", "Highlight where the FAQ says how to install Django")
    async with page.expect_request(
        _chatkit_request("threads.add_client_tool_output"), timeout=ANSWER_TIMEOUT_MS
    ) as sent:
        await page.click(f"{PANEL} #send")
    result = json.loads((await sent.value).post_data)["params"]["result"]
    highlighted = await page.evaluate("() => CSS.highlights.has('book-assistant-passage')")
    if result["highlighted"]:  # the passage was on this page: it is marked (or its anchor) here
        assert result["page"] == PAGE and (highlighted or result.get("anchor"))
    else:  # elsewhere: nothing on this page is marked, and the panel says so
        assert not highlighted
        await expect(page.locator(f"{PANEL} .msg.tool")).to_contain_text("Could not highlight")


async def test_host_styles_and_globals_unchanged_by_the_embed(
    host: Any, docs_site: DocsSite
) -> None:
    page = host
    await page.goto(f"/{PAGE}.html?embed=0")
    await page.wait_for_load_state("load")
    styles, names = await page.evaluate(HOST_STYLES), await page.evaluate(GLOBALS)
    await _open(page, f"/{PAGE}.html")
    await page.click(f"{PANEL} .launcher")
    await expect(page.locator(f"{PANEL} #panel")).to_be_visible()
    assert await page.evaluate(HOST_STYLES) == styles  # the panel's styles stay in its root
    assert await page.evaluate(GLOBALS) == names  # and its modules add no globals
    sheets = await page.evaluate("() => [...document.styleSheets].map((s) => s.href || 'inline')")
    assert not any(docs_site.gateway in s for s in sheets), sheets


async def test_official_options_under_a_strict_csp(browser: Any, docs_site: DocsSite) -> None:
    site = docs_site.site
    site.options_js = OPTIONS_JS % {"gateway": docs_site.gateway}
    site.csp = site.strict_csp()
    try:
        async with _context(browser, docs_site, {"width": 1280, "height": 900}) as page:
            await _open(page, f"/{PAGE}.html")
            panel = page.locator(f"{PANEL} #panel")
            await page.click(f"{PANEL} .launcher")
            await expect(panel).to_be_visible()
            await expect(page.locator(f"{PANEL} .greeting")).to_have_text("Questions about Django?")
            await expect(page.locator(f"{PANEL} #thread-title")).to_be_visible()
            await expect(page.locator(f"{PANEL} #threads-toggle")).to_be_hidden()  # history off
            assert (
                await page.get_attribute(f"{PANEL} #question", "placeholder")
                == "Ask the Django docs"
            )
            await expect(page.locator(f"{PANEL} .launcher")).to_have_text("Django helper")
            await expect(page.locator(f"{PANEL} .launcher")).to_have_css(
                "background-color", "rgb(200, 60, 120)"
            )
            await expect(page.locator(f"{PANEL} .frame")).to_have_class("frame floating dark")
            # entities.onTagSearch answers the composer's @-mentions.
            await page.fill(f"{PANEL} #question", "@Insta")
            await expect(page.locator(f"{PANEL} .mentions [role=option]")).to_have_count(1)
            assert await page.evaluate("() => window.tagSearches") == ["Insta"]
            await page.fill(f"{PANEL} #question", "")
            # A start-screen prompt asks its question; the answer streams under the policy.
            async with page.expect_request(_chatkit_request("threads.create")) as sent:
                await page.click(f"{PANEL} .prompt")
            # api.token: sent as a bearer token (the dev gateway here goes by its cookie).
            headers = await (await sent.value).all_headers()
            assert headers["authorization"] == "Bearer host-token"
            await page.locator(ANSWER).last.wait_for(timeout=ANSWER_TIMEOUT_MS)
            await expect(page.locator(f"{PANEL} .start-screen")).to_be_hidden()
            await page.screenshot(path=str(SHOTS / "dark.png"))
            # The policy is in force (it refuses the page's own inline script), not the embed.
            assert any(v["directive"] == "script-src-elem" for v in page.violations)
        async with _context(browser, docs_site, {"width": 390, "height": 844}) as phone:
            await _open(phone, f"/{PAGE}.html")
            await phone.click(f"{PANEL} .launcher")
            box = await phone.locator(f"{PANEL} #panel").bounding_box()
            assert box and box["width"] == 390
            await phone.screenshot(path=str(SHOTS / "phone.png"))
    finally:
        site.csp, site.options_js = None, ""


AXE_PANEL = """async () => {
  const result = await axe.run(document.querySelector("book-assistant"), {
    runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
  });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }));
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_the_open_panel_passes_axe(browser: Any, docs_site: DocsSite, scheme: str) -> None:
    """axe-core over the element (its shadow root included), open, with an answer in it; the
    host page's own markup is Django's and not judged here. The context bypasses the host's
    CSP only so that the test can inject axe."""
    axe = require_axe()
    docs_site.site.csp = None
    docs_site.site.options_js = ""
    context = await browser.new_context(
        base_url=docs_site.url, bypass_csp=True, color_scheme=scheme
    )
    try:
        page = await context.new_page()
        await _open(page, f"/{PAGE}.html")
        await page.click(f"{PANEL} .launcher")
        await page.fill(f"{PANEL} #question", "How do I install Django?")
        await page.click(f"{PANEL} #send")
        await page.locator(ANSWER).last.wait_for(timeout=ANSWER_TIMEOUT_MS)
        await page.add_script_tag(path=str(axe))
        assert await page.evaluate(AXE_PANEL) == []
    finally:
        await context.close()


RULES_JS = """document.querySelector("book-assistant").options = {
  pageContext: {
    rules: [{ match: "^/(?<folder>[a-z]+)/(?<stem>[a-z]+)\\\\.html$", chapter: "$<folder>",
              lesson: "rule-$<stem>" }],
  },
  citations: { href: "%(site)s/{document_id}.html?via=assistant#{anchor}" },
};
"""


async def test_docked_with_rules_attributes_and_a_citation_template(
    browser: Any, docs_site: DocsSite
) -> None:
    site = docs_site.site
    site.element = '<book-assistant docked data-page="faq/general"></book-assistant>'
    site.options_js = RULES_JS % {"site": docs_site.url}
    try:
        async with _context(browser, docs_site, {"width": 1280, "height": 900}) as page:
            await _open(page, f"/{PAGE}.html")
            await expect(page.locator(f"{PANEL} #panel")).to_be_visible()  # docked: no launcher
            await expect(page.locator(f"{PANEL} .launcher")).to_have_count(0)
            await page.fill(f"{PANEL} #question", "How do I install Django?")
            async with page.expect_request(_chatkit_request("threads.create")) as sent:
                await page.click(f"{PANEL} #send")
            context = json.loads((await sent.value).post_data)["metadata"]["page_context"]
            faq = _expected_context(docs_site.gateway, PAGE)["current_chapter"]
            # The rule's folder is a chapter the table of contents numbers; the attribute
            # names the page; the rule's template the lesson.
            assert context == {
                "current_chapter": faq,
                "current_lesson": "rule-install",
                "current_page": "faq/general",
            }
            answer = page.locator(ANSWER).last
            await answer.wait_for(timeout=ANSWER_TIMEOUT_MS)
            cites = await answer.locator("a.cite").evaluate_all("links => links.map(a => a.href)")
            assert cites
            for href in cites:
                assert "?via=assistant" in href, href
                assert _in_build(docs_site.build, docs_site.url, href.replace("?via=assistant", ""))

            # Without rules or attributes: a numbered path gives its chapter and lesson; the
            # lesson is the path below the chapter (an index page its folder's), as
            # retrieval names it.
            numbered, index, nested = await page.evaluate(
                """async (gateway) => {
                  const m = await import(`${gateway}/static/embed/host_page.js`);
                  const rules = { rules: [], root: "/docs/" };
                  const at = (path) => m.pageContextOf(new URL(`https://x.example${path}`),
                                                       rules, null);
                  return [at("/docs/03-setup/02-install.html"), at("/docs/topics/db/"),
                          at("/docs/ref/models/fields.html")];
                }""",
                docs_site.gateway,
            )
            assert numbered == {
                "current_chapter": 3,
                "current_lesson": "install",
                "current_page": "03-setup/02-install",
            }
            assert index == {"current_lesson": "db", "current_page": "topics/db/index"}
            assert nested["current_lesson"] == "models/fields"
    finally:
        site.element = HostSite.element
        site.options_js = ""


@pytest.mark.parametrize("strategy", ["direct", "two_phase"])
async def test_attachments_when_the_page_asks_for_them(
    browser: Any, docs_site: DocsSite, strategy: str
) -> None:
    site = docs_site.site
    viewport = {"width": 1280, "height": 900}
    try:
        async with _context(browser, docs_site, viewport) as page:  # not asked for: none
            await _open(page, f"/{PAGE}.html")
            await page.click(f"{PANEL} .launcher")
            await expect(page.locator(f"{PANEL} #question")).to_be_visible()
            assert await page.locator(f"{PANEL} input.attach-input").count() == 0
        site.options_js = ATTACH_JS % {"gateway": docs_site.gateway, "strategy": strategy}
        async with _context(browser, docs_site, viewport) as page:
            await _open(page, f"/{PAGE}.html")
            await page.click(f"{PANEL} .launcher")
            chooser = page.locator(f"{PANEL} input.attach-input")
            assert await chooser.get_attribute("accept") == "image/png"  # the page's narrowing
            await chooser.set_input_files(
                [{"name": "diagram.png", "mimeType": "image/png", "buffer": PNG}]
            )
            chip = page.locator(f"{PANEL} li.attachment[data-attachment-id]")
            await chip.wait_for()
            attachment_id = await chip.get_attribute("data-attachment-id")
            await page.fill(f"{PANEL} #question", "What does this diagram show?")
            async with page.expect_request(_chatkit_request("threads.create")) as sent:
                await page.click(f"{PANEL} #send")
            body = json.loads((await sent.value).post_data or "{}")
            assert body["params"]["input"]["attachments"] == [attachment_id]
            await page.locator(ANSWER).last.wait_for(timeout=ANSWER_TIMEOUT_MS)
            shown = page.locator(f"{PANEL} .msg.user .attachment-sent img")
            await shown.wait_for()  # served back, across origins, to its owner
            assert await shown.evaluate("(img) => img.complete && img.naturalWidth") == 1
    finally:
        site.options_js = ""
