"""@-mentions in the web client on the real platform (gateway, chat with the offline model,
retrieval of the demo book, store): `@` and a few letters list the book's chapters and
pages, the keyboard picks one, the message carries it as an `input_tag`, the answer's
sources start in the mentioned page, and the sent message shows the mention."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.test_full_stack import DONE, chatkit_requests, open_lesson, widget_titled

pytestmark = pytest.mark.e2e

MENTIONED = "01-getting-started/02-running-locally"
MENTIONED_TITLE = "Running the platform locally"
OPTIONS = "#composer ul.mentions [role=option]"


async def test_a_page_is_mentioned_with_the_keyboard_and_answered_from_first(
    stack_page: Any,
) -> None:
    page = stack_page
    await open_lesson(page, "02-asking-the-assistant/03-citations-and-sources")
    sent = chatkit_requests(page)
    question = page.locator("#question")
    await question.click()
    await question.press_sequentially("How are citations shown in @runn")
    option = page.locator(OPTIONS, has_text=MENTIONED_TITLE)
    await option.wait_for()
    listbox = await question.get_attribute("aria-controls")
    assert await page.locator(f"#{listbox}[role=listbox]").is_visible()
    assert await question.get_attribute("aria-activedescendant") == f"{listbox}-0"
    await question.press("Enter")  # picks the highlighted (first) entry: it does not send
    assert await page.locator("#composer ul.mentions").is_hidden()
    assert await question.input_value() == f"How are citations shown in @{MENTIONED_TITLE} "
    assert sent == []

    await question.press_sequentially("?")
    await question.press("Enter")
    await page.wait_for_selector(DONE)
    content = sent[0]["params"]["input"]["content"]
    assert content[0] == {"type": "input_text", "text": "How are citations shown in "}
    assert content[1]["type"] == "input_tag"
    assert (content[1]["id"], content[1]["text"]) == (f"page:{MENTIONED}", MENTIONED_TITLE)
    assert content[2] == {"type": "input_text", "text": " ?"}
    chip = page.locator(".msg.user .mention")
    assert await chip.inner_text() == f"@{MENTIONED_TITLE}"

    # Without the mention the citations page ranks first; with it, the mentioned page does.
    card = widget_titled(page, "Sources from the book")
    await card.wait_for()
    first = await card.locator(".w-col .w-text").first.inner_text()
    assert MENTIONED_TITLE in first or "Running" in first, first


async def test_escape_closes_the_list_and_an_unpicked_at_is_plain_text(stack_page: Any) -> None:
    page = stack_page
    await open_lesson(page, "02-asking-the-assistant/03-citations-and-sources")
    sent = chatkit_requests(page)
    question = page.locator("#question")
    await question.click()
    await question.press_sequentially("mail me @runn")
    await page.locator(OPTIONS).first.wait_for()
    await question.press("Escape")
    assert await page.locator("#composer ul.mentions").is_hidden()
    await question.press("Enter")
    await page.wait_for_selector(DONE)
    assert sent[0]["params"]["input"]["content"] == [
        {"type": "input_text", "text": "mail me @runn"}
    ]
