"""The web client checked with axe-core (npm) in Chromium: no serious or critical violation
of WCAG 2 A/AA, in the light and the dark scheme and at a phone's width, with an answer,
its citation and a widget on screen; and it can be used from the keyboard alone."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS, PANEL_HELPER, require_axe
from tests.integration.gateway.upstream import Control

pytestmark = pytest.mark.e2e

SERIOUS = ("serious", "critical")
RUN_AXE = """async () => {
  const result = await axe.run(document, {
    runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
  });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
  }));
}"""


@pytest.fixture
async def a11y_page(
    browser: Any, stack_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
    """The web client with axe-core injected (the test context bypasses the page's CSP,
    which would refuse the injected script, as it should)."""
    require_axe()
    scheme, width = request.param
    context = await browser.new_context(
        base_url=stack_url,
        bypass_csp=True,
        color_scheme=scheme,
        viewport={"width": width, "height": 860},
    )
    await context.add_init_script(PANEL_HELPER)
    page = await context.new_page()
    await page.goto("/")
    await page.wait_for_selector("body.ready")
    try:
        yield page
    finally:
        await context.close()


async def violations_on(page: Any, name: str) -> list[dict[str, Any]]:
    await page.add_script_tag(path=str(require_axe()))
    found = await page.evaluate(RUN_AXE)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"a11y-{name}.png"))
    (ARTIFACTS / f"a11y-{name}.json").write_text(json.dumps(found, indent=2))
    return [v for v in found if v["impact"] in SERIOUS]


@pytest.mark.parametrize(
    "a11y_page",
    [("light", 1400), ("dark", 1400), ("light", 390)],
    ids=["light", "dark", "phone"],
    indirect=True,
)
async def test_no_serious_accessibility_violations(a11y_page: Any, e2e_control: Control) -> None:
    page = a11y_page
    scheme = await page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    width = await page.evaluate("innerWidth")
    name = f"{'dark' if scheme else 'light'}-{width}"
    assert await violations_on(page, f"{name}-start") == []
    await page.fill("#question", "What does page context mean?")
    await page.click("#send")
    await page.locator(".msg.widget >> text=Sources from the book").wait_for()
    await page.locator(".msg.assistant:not(.streaming)").wait_for()
    assert await violations_on(page, f"{name}-answer") == []


@pytest.mark.parametrize("a11y_page", [("light", 1400)], indirect=True)
async def test_asking_and_reading_by_keyboard_alone(a11y_page: Any, e2e_control: Control) -> None:
    """Focus the composer with Tab, type, send with Enter (Shift+Enter is a new line), and
    reach the answer's citation with Tab."""
    page = a11y_page
    for _ in range(60):
        await page.keyboard.press("Tab")
        if await page.evaluate("panel().activeElement?.id") == "question":
            break
    else:
        pytest.fail("Tab never reached the question box")
    await page.keyboard.type("First line")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("second line")
    assert await page.input_value("#question") == "First line\nsecond line"
    await page.keyboard.press("Enter")
    await page.locator(".msg.assistant:not(.streaming) a.cite").first.wait_for()
    # the streamed text is announced: it sits in a polite live region
    live = await page.evaluate(
        "panel().querySelector('.msg.assistant').closest('[aria-live]')?.getAttribute('aria-live')"
    )
    assert live == "polite"
    for _ in range(80):
        await page.keyboard.press("Tab")
        if await page.evaluate("panel().activeElement?.classList.contains('cite')"):
            return
    pytest.fail("Tab never reached the answer's citation")
