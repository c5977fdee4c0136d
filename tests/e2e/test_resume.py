"""An answer that survives a dropped connection, in Chromium on the real platform: the web
client reconnects by itself and the answer goes on; a page reloaded mid-answer reopens its
thread and shows the answer still being written."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import open_client
from tests.fault.gateway_user import COOKIE, store_items
from tests.support.stack import Stack, platform
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import until

pytestmark = pytest.mark.e2e

ASSISTANT = ".msg.assistant"
DONE = f"{ASSISTANT}:not(.streaming)"
STREAMING_TEXT = (
    "() => panel().querySelector('.msg.assistant.streaming .text')?.innerText.length > 10"
)


@pytest.fixture(scope="module")
def slow_stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The real platform answering slowly (about ten seconds an answer): a reload and a
    reopen fit well within one answer, also on a busy machine."""
    tmp = tmp_path_factory.mktemp("resume-stack")
    with platform(tmp, database_url=database_url, token_delay_ms=120) as stack:
        yield stack


def _words(text: str) -> str:
    """Letters and digits only: the screen's text and the stored Markdown compare alike."""
    return "".join(ch for ch in text if ch.isalnum())


@pytest.fixture
async def proxied_page(browser: Any, slow_stack: Stack) -> AsyncIterator[tuple[Any, TcpProxy]]:
    """The web client reached through a TCP proxy in front of the gateway."""
    proxy = TcpProxy(slow_stack.services["gateway"].port)
    proxy.start()
    try:
        async with open_client(browser, proxy.url) as page:
            yield page, proxy
    finally:
        proxy.stop()


async def _stored_answer(page: Any, stack: Stack, thread_id: str) -> str:
    user_id = await _user_id(page)
    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{stack.url('store')}/v1/threads/{thread_id}/items",
            params={"limit": 100, "order": "asc"},
            headers=stack.acting_for(user_id),
        )
    assert response.status_code == 200, response.text
    return "".join(
        part["text"]
        for item in response.json()["data"]
        if item["type"] == "assistant_message"
        for part in item["content"]
    )


async def _user_id(page: Any) -> str:
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    return cookies[COOKIE].partition(".")[0]


async def _thread_id(page: Any) -> str:
    await page.click("#threads-toggle")
    row = page.locator(".thread-item.active")
    await row.wait_for()
    thread_id: str = await row.get_attribute("data-thread-id")
    await page.click("#threads-toggle")
    return thread_id


async def test_the_client_reconnects_after_a_network_drop_and_the_answer_goes_on(
    proxied_page: tuple[Any, TcpProxy], slow_stack: Stack
) -> None:
    page, proxy = proxied_page
    await page.fill("#question", "How does the assistant search the book and cite its sources?")
    await page.click("#send")
    await page.wait_for_function(STREAMING_TEXT)
    proxy.reset()  # every connection of the page is cut, mid-answer
    await page.wait_for_selector(DONE, timeout=60_000)
    shown = await page.locator(f"{ASSISTANT} .text").inner_text()
    assert await page.locator(".msg.notice.error").count() == 0
    stored = await _stored_answer(page, slow_stack, await _thread_id(page))
    # Every delta once: the text on screen is the stored answer, none repeated or lost.
    assert stored and _words(shown) == _words(stored)


async def test_a_page_reloaded_mid_answer_shows_the_answer_going_on(
    proxied_page: tuple[Any, TcpProxy], slow_stack: Stack
) -> None:
    page, _ = proxied_page
    question = "Which models can the assistant use offline and online?"
    await page.fill("#question", question)
    await page.click("#send")
    await page.wait_for_function(STREAMING_TEXT)
    thread_id = await _thread_id(page)
    # The tab remembers its thread: the reload reopens it and resumes the running answer.
    async with page.expect_response(lambda r: "/chatkit/streams/" in r.url) as resumed:
        await page.reload()
    await page.wait_for_selector("body.ready")
    assert (await resumed.value).status == 200  # the answer was still running
    await page.wait_for_selector(f"{ASSISTANT}.streaming")
    await page.wait_for_selector(DONE, timeout=60_000)
    shown = await page.locator(f"{ASSISTANT} .text").inner_text()
    stored = await _stored_answer(page, slow_stack, thread_id)
    assert await page.locator(".msg.user").count() == 1
    assert await page.locator(ASSISTANT).count() == 1
    assert stored and _words(shown) == _words(stored)


async def test_a_stop_pressed_before_the_new_thread_is_named_stops_the_answer(
    proxied_page: tuple[Any, TcpProxy], slow_stack: Stack
) -> None:
    """Stop pressed while nothing of the answer has arrived (its thread's id unknown to the
    page): the page stops it as soon as the stream names the thread, rather than dropping
    a connection the answer would outlive."""
    page, proxy = proxied_page
    user_id = await _user_id(page)

    async def asked() -> str:
        async with httpx.AsyncClient() as http:
            response = await http.get(
                f"{slow_stack.url('store')}/v1/threads",
                params={"limit": 5},
                headers=slow_stack.acting_for(user_id),
            )
        threads = response.json()["data"]
        return str(threads[0]["id"]) if threads else ""

    proxy.hold_replies()  # the answer starts on the server; the page sees nothing of it
    try:
        await page.fill("#question", "What does the offline model do with my question?")
        await page.click("#send")
        thread_id = await until(asked, what="the question saved on the server")
        await page.click("#stop")
    finally:
        proxy.release_replies()
    await page.wait_for_selector(".msg.notice >> text=Stopped")

    async def stopped() -> bool:
        _, items = await store_items(slow_stack, user_id, thread_id)
        return any("The user cancelled the stream" in str(i.get("content")) for i in items)

    assert await until(stopped, what="the answer stopped on the server, its note saved")
