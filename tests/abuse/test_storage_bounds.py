"""What one user may keep, and how much one answer may carry, tried against the real
services: quotas of threads, items per thread and attachment bytes (403 `quota_exceeded`),
items over the store's size limit (413), pages bounded by bytes through store, chat and
gateway, and attachments that go with their thread. Every refusal is quick, in the JSON
envelope, and leaves what was kept as it was."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from services.gateway.settings import GatewaySettings
from shared.contracts.store import StoreLimits
from tests.abuse.refusals import QUICK_S, assert_refused, timed
from tests.fault.conftest import StackFactory
from tests.fault.gateway_user import Answer, GatewayUser, assistant_item, store_items, user_input
from tests.support.stack import Stack

pytestmark = pytest.mark.abuse

THREADS, ITEMS, RESERVED, ATTACHMENT_BYTES = 3, 12, 8, 100_000
LIMITS = StoreLimits()  # the defaults, which the stack keeps
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 40_000


@pytest.fixture(scope="module")
def stack(start_stack: StackFactory) -> Iterator[Stack]:
    store = {
        "STORE_MAX_THREADS_PER_USER": str(THREADS),
        "STORE_MAX_ITEMS_PER_THREAD": str(ITEMS),
        "STORE_REPLY_ITEMS_RESERVED": str(RESERVED),
        "STORE_MAX_ATTACHMENT_BYTES_PER_USER": str(ATTACHMENT_BYTES),
    }
    with start_stack(extra_env={"store": store}) as stack:
        yield stack


@pytest.fixture
async def user(stack: Stack) -> AsyncIterator[GatewayUser]:
    async with GatewayUser(stack.gateway) as user:
        yield user


@pytest.fixture
async def store(stack: Stack, user: GatewayUser) -> AsyncIterator[httpx.AsyncClient]:
    """The store service, called as the gateway's user (what the services behind do)."""
    headers = stack.acting_for(user.user_id)
    async with httpx.AsyncClient(base_url=stack.url("store"), headers=headers) as client:
        yield client


async def thread_ids(user: GatewayUser) -> list[str]:
    page = await user.native({"type": "threads.list", "params": {"limit": 50}})
    assert page.status == 200, page.body
    return sorted(t["id"] for t in page.body["data"])


def new_thread(text: str, attachments: list[str] | None = None) -> dict[str, Any]:
    message = user_input(text) | {"attachments": attachments or []}
    return {"type": "threads.create", "params": {"input": message}}


def answered(answer: Answer) -> Answer:
    assert answer.status == 200 and not answer.errors, answer.received.events or answer.body
    return answer


def created(answer: Answer) -> str:
    """The id of the thread `answer` created."""
    return answered(answer).received.thread_id()


async def test_threads_beyond_the_quota_are_refused(user: GatewayUser) -> None:
    kept = [created(await user.ask("How do I bring my own book?")) for _ in range(THREADS)]
    assert await thread_ids(user) == sorted(kept)
    for attempt in (user.ask("One more?"), user.native(new_thread("One more?"))):
        refused, took = await timed(attempt)
        message = assert_refused(refused.status, refused.body, 403, "quota_exceeded", took)
        assert f"{THREADS} threads" in message
    assert await thread_ids(user) == sorted(kept)
    # deleting one makes room
    deleted = await user.native({"type": "threads.delete", "params": {"thread_id": kept[0]}})
    assert deleted.status == 200
    created(await user.ask("How do I bring my own book?"))


async def test_a_full_thread_refuses_the_next_message_and_no_reply_is_cut(
    stack: Stack, user: GatewayUser
) -> None:
    thread_id = created(await user.ask("How do I bring my own book?"))
    for _ in range(ITEMS):  # follow-ups until the thread has no room for one more turn
        status, before = await store_items(stack, user.user_id, thread_id)
        assert status == 200 and len(before) <= ITEMS
        follow_up = {
            "type": "threads.add_user_message",
            "params": {"thread_id": thread_id, "input": user_input("And how do I check it?")},
        }
        answer, took = await timed(user.native(follow_up))
        if answer.status != 200:
            break
        assert answered(answer).assistant_text()  # accepted: its reply had the room it needed
    else:
        raise AssertionError("the thread never filled up")
    message = assert_refused(answer.status, answer.body, 403, "quota_exceeded", took)
    assert f"({ITEMS})" in message
    assert len(before) + 1 + RESERVED > ITEMS  # refused only for want of room
    _, after = await store_items(stack, user.user_id, thread_id)
    assert after == before


async def test_an_item_over_the_size_limit_is_refused(
    user: GatewayUser, store: httpx.AsyncClient
) -> None:
    thread_id = created(await user.ask("How do I bring my own book?"))
    kept = (await store.get(f"/v1/threads/{thread_id}/items", params={"limit": 200})).json()
    text = "x" * (LIMITS.store_max_item_bytes + 1)
    item = assistant_item(thread_id, "msg_huge", text)
    for call in (
        store.post(f"/v1/threads/{thread_id}/items", json={"item": item}),
        store.put(f"/v1/threads/{thread_id}/items/msg_huge", json={"item": item}),
    ):
        response, took = await timed(call)
        assert_refused(response.status_code, response.json(), 413, "payload_too_large", took)
    again = (await store.get(f"/v1/threads/{thread_id}/items", params={"limit": 200})).json()
    assert again == kept


async def test_item_pages_are_bounded_in_bytes_from_store_to_client(
    user: GatewayUser, store: httpx.AsyncClient
) -> None:
    # Ten items of the largest size the store keeps, in a thread of the user's.
    thread_id = f"thr_{uuid.uuid4().hex[:8]}"
    meta = {"thread": {"id": thread_id, "created_at": "2026-01-01T00:00:00Z"}}
    assert (await store.put(f"/v1/threads/{thread_id}", json=meta)).status_code == 204
    ids = [f"msg_{n:02d}" for n in range(10)]
    for item_id in ids:
        item = assistant_item(thread_id, item_id, "y" * (LIMITS.store_max_item_bytes - 300))
        created = await store.post(f"/v1/threads/{thread_id}/items", json={"item": item})
        assert created.status_code == 201, created.text
    bound = GatewaySettings().chat_answer_bytes
    seen: list[str] = []
    params: dict[str, Any] = {"thread_id": thread_id, "limit": 200, "order": "asc"}
    while True:
        started = time.monotonic()
        response = await user.http.post("/chatkit", json={"type": "items.list", "params": params})
        took = time.monotonic() - started
        assert response.status_code == 200, response.text
        assert len(response.content) <= bound  # what the gateway relays, and chat answers
        page = response.json()
        sizes = [len(httpx.Response(200, json=i).content) for i in page["data"]]
        assert 1 <= len(sizes) < len(ids) and sum(sizes) <= LIMITS.store_max_page_bytes
        assert took < QUICK_S, f"a page took {took:.2f}s"
        seen += [i["id"] for i in page["data"]]
        if not page["has_more"]:
            break
        params["after"] = page["after"]
    assert seen == ids


async def upload(user: GatewayUser) -> tuple[httpx.Response, float]:
    return await timed(user.http.post("/attachments", files={"file": ("p.png", PNG, "image/png")}))


async def test_attachment_bytes_beyond_the_quota_are_refused(user: GatewayUser) -> None:
    kept = []
    for _ in range(ATTACHMENT_BYTES // len(PNG)):
        response, _ = await upload(user)
        assert response.status_code == 200, response.text
        kept.append(response.json()["id"])
    refused, took = await upload(user)
    assert_refused(refused.status_code, refused.json(), 403, "quota_exceeded", took)
    for attachment_id in kept:
        content = await user.http.get(f"/attachments/{attachment_id}/content")
        assert content.status_code == 200 and content.content == PNG


async def test_a_deleted_thread_takes_its_attachments_along(user: GatewayUser) -> None:
    uploaded, _ = await upload(user)
    attachment_id = uploaded.json()["id"]
    thread_id = created(await user.native(new_thread("What is in this picture?", [attachment_id])))
    content_url = f"/attachments/{attachment_id}/content"
    assert (await user.http.get(content_url)).status_code == 200
    deleted = await user.native({"type": "threads.delete", "params": {"thread_id": thread_id}})
    assert deleted.status == 200
    gone, took = await timed(user.http.get(content_url))
    assert_refused(gone.status_code, gone.json(), 404, "not_found", took)
    # and its bytes no longer count against the quota
    for _ in range(ATTACHMENT_BYTES // len(PNG)):
        response, _ = await upload(user)
        assert response.status_code == 200, response.text
