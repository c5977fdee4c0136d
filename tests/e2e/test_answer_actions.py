"""What the reader can do with an answer in the web client: copy it, have it answered again
(`threads.retry_after_item`), and retry an answer that failed when the server allows it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.gateway.upstream import Control
from tests.support.waiting import until

pytestmark = pytest.mark.e2e

DONE = ".msg.assistant:not(.streaming)"


async def ask(page: Any, question: str) -> None:
    await page.fill("#question", question)
    await page.click("#send")


async def test_an_answer_is_copied_as_its_text(page: Any) -> None:
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await ask(page, "What is a corpus?")
    await page.locator(f"{DONE} >> text=word4").wait_for()
    await page.locator(f"{DONE} .feedback button.copy").click()
    await page.locator(f"{DONE} .feedback button.copy[title=Copied]").wait_for()
    assert await page.evaluate("navigator.clipboard.readText()") == "word0 word1 word2 word3 word4 "


async def test_an_answer_is_answered_again_in_its_place(page: Any, e2e_control: Control) -> None:
    await ask(page, "What is a corpus?")
    await page.locator(f"{DONE} >> text=word4").wait_for()
    e2e_control.deltas = 3
    await page.locator(f"{DONE} .feedback button.retry").click()
    await page.locator(f"{DONE} >> text=word2").wait_for()
    retry = e2e_control.requests[-1]
    assert retry["type"] == "threads.retry_after_item"
    # the one question, answered once: the old answer and its card went
    assert await page.locator(".msg.user").count() == 1
    assert await page.locator(".msg.assistant").all_text_contents() == [
        await page.locator(".msg.assistant").first.text_content()
    ]
    assert "word4" not in (await page.locator(".msg.assistant").first.text_content() or "")
    assert await page.locator(".msg.widget").count() == 1
    # and the thread the server keeps says the same
    thread_id = retry["params"]["thread_id"]
    listing = await page.evaluate(
        """async (threadId) => {
          const { call } = await import("/static/api.js");
          return call("items.list", { thread_id: threadId, limit: 50, order: "asc" });
        }""",
        thread_id,
    )
    kinds = [item["type"] for item in listing["data"]]
    assert kinds.count("user_message") == 1 and kinds.count("assistant_message") == 1
    assert retry["params"]["item_id"] == listing["data"][0]["id"]


async def test_a_failed_answer_offers_a_retry(page: Any, e2e_control: Control) -> None:
    e2e_control.fail_after_deltas = 2
    await ask(page, "What is a corpus?")
    retry = page.locator(".msg.notice.error button.notice-retry")
    await retry.wait_for()
    await retry.click()
    await page.locator(f"{DONE} >> text=word4").wait_for()
    await until(
        lambda: e2e_control.requests[-1]["type"] == "threads.retry_after_item",
        what="the retry request",
    )
    assert await page.locator(".msg.notice.error").count() == 0
    assert await page.locator(".msg.assistant").count() == 1
