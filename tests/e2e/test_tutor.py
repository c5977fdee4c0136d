"""The tutor in the web client on the real platform (offline model, demo book): asking
for a quiz on the open lesson shows who answers, a quiz card with a field per question,
and the card's buttons grade or reveal the answers in place."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import require_axe
from tests.e2e.test_accessibility import violations_on
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e
playwright = pytest.importorskip("playwright.async_api", reason="Playwright is not installed")
expect = playwright.expect

LESSON = "02-asking-the-assistant/03-citations-and-sources"
DONE = ".msg.assistant:not(.streaming)"


async def quiz_me(page: Any) -> Any:
    """Ask for a quiz on the open lesson; the quiz card once it is shown."""
    await page.fill("#question", "Quiz me on this lesson")
    await page.click("#send")
    card = page.locator(".msg.widget", has=page.locator("form"))
    await card.last.wait_for()
    return card.last


async def open_lesson(page: Any) -> None:
    await page.click(f"nav a[data-page='{LESSON}']")
    await page.wait_for_url(f"**/book/{LESSON}")


async def test_a_quiz_is_shown_graded_and_revealed_in_place(stack_page: Any) -> None:
    page = stack_page
    await open_lesson(page)
    card = await quiz_me(page)
    await expect(page.locator(".msg.task[role=status]")).to_have_text(
        re.compile("Tutor is answering")
    )
    fields = card.get_by_role("textbox")
    count = await fields.count()
    assert count >= 2
    # Each field has its question as its label, a sentence with a blank.
    label = await card.locator("label").first.inner_text()
    assert "_____" in label
    await fields.first.fill("zzzz")
    await card.get_by_role("button", name="Check my answers").click()
    results = page.get_by_role("heading", name=re.compile(rf"0 of {count} right"))
    await results.wait_for()
    await expect(page.locator(DONE).last).to_contain_text(f"You got 0 of {count} right.")
    assert await page.locator(".msg.widget form").count() == 0  # replaced, not added
    # The results answer the quiz, not a question: nothing to answer again (it used to
    # re-run "quiz me"); the same once the thread is reopened from the store.
    again = page.get_by_role("button", name="Answer again")
    await expect(page.locator(DONE).last.get_by_role("button", name="Answer again")).to_be_hidden()
    visible = await again.evaluate_all("buttons => buttons.filter((b) => !b.hidden).length")
    await page.reload()
    await page.wait_for_selector("body.ready")
    await expect(page.locator(DONE).last).to_contain_text(f"You got 0 of {count} right.")
    await expect(page.locator(DONE).last.get_by_role("button", name="Answer again")).to_be_hidden()
    assert await again.evaluate_all("bs => bs.filter((b) => !b.hidden).length") == visible
    source = page.locator(".msg.widget a", has_text="Citations and the sources card").first
    assert (await source.get_attribute("href") or "").startswith(f"/book/{LESSON}")

    second = await quiz_me(page)
    await second.get_by_role("button", name="Reveal the answers").click()
    await page.get_by_role("heading", name=re.compile("The answers")).wait_for()
    await expect(page.locator(DONE).last).to_contain_text("Here are the answers")
    # The tutor went on answering: no second handoff note.
    assert await page.locator(".msg.task").count() == 1


async def test_the_quiz_and_its_results_pass_axe(browser: Any, full_stack: Stack) -> None:
    require_axe()
    context = await browser.new_context(base_url=full_stack.gateway, bypass_csp=True)
    try:
        page = await context.new_page()
        await page.goto("/")
        await page.wait_for_selector("body.ready")
        await open_lesson(page)
        card = await quiz_me(page)
        await page.locator(DONE).last.wait_for()
        assert await violations_on(page, "quiz") == []
        await card.get_by_role("button", name="Check my answers").click()
        await page.get_by_role("heading", name=re.compile("right")).wait_for()
        assert await violations_on(page, "quiz-results") == []
    finally:
        await context.close()
