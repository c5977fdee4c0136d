"""A long thread reopened in the web client shows its newest items and pages in older ones as
the reader scrolls up (or asks for them); the thread list can be searched by title."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.gateway.upstream import Control

pytestmark = pytest.mark.e2e

QUESTIONS = 9  # 3 items an answer (question, answer, sources card): 27, over a page of 20


async def ask_and_wait(page: Any, question: str, answers: int) -> None:
    await page.fill("#question", question)
    await page.click("#send")
    await page.wait_for_function(
        "(n) => panel().querySelectorAll('.msg.assistant:not(.streaming)').length === n"
        " && !panel().querySelector('#send').disabled",
        arg=answers,
    )


async def test_a_long_thread_pages_in_its_history_as_the_reader_scrolls_up(
    page: Any, e2e_control: Control
) -> None:
    e2e_control.deltas = 1
    for n in range(QUESTIONS):
        await ask_and_wait(page, f"Question {n}", n + 1)
    await page.reload()  # the tab remembers its thread: the reload reopens it
    await page.wait_for_selector("body.ready")
    users = page.locator(".msg.user")
    await page.locator(".msg.user >> text=Question 8").wait_for()
    # the newest page: 20 items, the last question's at the bottom, older ones not loaded
    first_shown = await users.count()
    assert first_shown < QUESTIONS
    earlier = page.locator(".load-earlier")
    assert await earlier.count() == 1
    # scrolling to the top brings the rest, in order, the view kept where it was
    await page.locator("#messages").evaluate("(el) => { el.scrollTop = 0; }")
    await page.wait_for_function(
        "(n) => panel().querySelectorAll('.msg.user').length === n", arg=QUESTIONS
    )
    assert await users.all_text_contents() == [f"Question {n}" for n in range(QUESTIONS)]
    assert await earlier.count() == 0
    assert await page.locator(".msg.assistant").count() == QUESTIONS
    assert await page.locator(".msg.widget").count() == QUESTIONS


async def test_the_thread_list_is_searched_by_title(page: Any, e2e_control: Control) -> None:
    e2e_control.deltas = 1
    for n, title in enumerate(["Indexes and corpora", "Rate limits", "Indexing a site"]):
        if n:
            await page.click("#new-thread")
        await ask_and_wait(page, title, 1)
    await page.click("#threads-toggle")
    rows = page.locator(".thread-item .open")
    await page.wait_for_function("() => panel().querySelectorAll('.thread-item').length === 3")
    search = page.get_by_label("Search conversations by title")
    await search.fill("index")
    assert sorted(await rows.all_text_contents()) == ["Indexes and corpora", "Indexing a site"]
    await search.fill("rate LIMITS")
    assert await rows.all_text_contents() == ["Rate limits"]
    await search.fill("nothing like it")
    assert await rows.count() == 0
    assert "No conversation" in (await page.locator("#threads").text_content() or "")
