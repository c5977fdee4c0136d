"""One small request must not become a great deal of work, tried against the real
services: ids repeated by the thousand (422 above the caps, each distinct id checked once,
in one store call), a message made of many parts or of huge fields (422/413), huge
titles and metadata (413), and a retry of an item that does not exist (404 after one
lookup). Every refusal is quick, in the JSON envelope, and changes nothing stored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.gateway.settings import GatewaySettings
from tests.abuse.refusals import assert_refused, timed
from tests.fault.conftest import StackFactory
from tests.fault.gateway_user import Answer, GatewayUser, assistant_item, user_input
from tests.support.stack import Stack

pytestmark = pytest.mark.abuse

EDGE = GatewaySettings()  # the defaults, which the stack keeps
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100


@pytest.fixture(scope="module")
def stack(start_stack: StackFactory) -> Iterator[Stack]:
    with start_stack() as stack:
        yield stack


@pytest.fixture
async def user(stack: Stack) -> AsyncIterator[GatewayUser]:
    async with GatewayUser(stack.gateway) as user:
        yield user


async def store_calls(stack: Stack) -> float:
    """How many requests the store service has answered so far (its own metrics)."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{stack.url('store')}/metrics", timeout=10)).text
    counts = [
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "http_requests"
        for sample in family.samples
        if sample.name == "http_requests_total" and sample.labels["route"] != "/metrics"
    ]
    assert counts, "the store reported no request counts"
    return sum(counts)


def answered(answer: Answer) -> Answer:
    assert answer.status == 200 and not answer.errors, answer.received.events or answer.body
    return answer


async def new_thread(user: GatewayUser) -> str:
    return answered(await user.ask("How do I bring my own book?")).received.thread_id()


async def upload(user: GatewayUser) -> str:
    response = await user.http.post("/attachments", files={"file": ("p.png", PNG, "image/png")})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def snapshot(user: GatewayUser) -> list[Any]:
    """Every thread of the user with its items, as the gateway serves them."""
    page = await user.native({"type": "threads.list", "params": {"limit": 50}})
    assert page.status == 200, page.body
    return [(t, await user.items(t["id"])) for t in page.body["data"]]


def message(**changes: Any) -> dict[str, Any]:
    return user_input("What is a chapter?") | changes


async def test_repeated_attachment_ids_are_refused_above_the_cap(user: GatewayUser) -> None:
    attachment_id = await upload(user)
    before = await snapshot(user)
    for count in (EDGE.max_attachments_per_message + 1, 2000, 26_000):
        body = {
            "type": "threads.create",
            "params": {"input": message(attachments=[attachment_id] * count)},
        }
        refused, took = await timed(user.native(body))
        text = assert_refused(refused.status, refused.body, 422, "validation_error", took)
        assert f"At most {EDGE.max_attachments_per_message} attachments" in text
    assert await snapshot(user) == before


async def test_repeats_within_the_cap_are_forwarded_once(stack: Stack, user: GatewayUser) -> None:
    attachment_id = await upload(user)
    repeated = [attachment_id] * EDGE.max_attachments_per_message
    body = {"type": "threads.create", "params": {"input": message(attachments=repeated)}}
    answer = answered(await user.native(body))
    sent = answer.items("user_message")
    assert [a["id"] for a in sent[0]["attachments"]] == [attachment_id]


async def add_items(stack: Stack, user: GatewayUser, thread_id: str, count: int) -> list[str]:
    """`count` assistant messages put straight into the user's thread at the store."""
    headers = stack.acting_for(user.user_id)
    ids = [f"msg_extra_{n:03d}" for n in range(count)]
    async with httpx.AsyncClient(base_url=stack.url("store"), headers=headers) as store:
        for item_id in ids:
            item = assistant_item(thread_id, item_id, "an answer")
            added = await store.post(f"/v1/threads/{thread_id}/items", json={"item": item})
            assert added.status_code == 201, added.text
    return ids


async def test_feedback_ids_are_capped_and_checked_in_one_call(
    stack: Stack, user: GatewayUser
) -> None:
    thread_id = await new_thread(user)
    items = await add_items(stack, user, thread_id, EDGE.max_feedback_items)
    before = await snapshot(user)

    def feedback(ids: list[str]) -> dict[str, Any]:
        params = {"thread_id": thread_id, "item_ids": ids, "kind": "positive"}
        return {"type": "items.feedback", "params": params}

    for ids in ([items[0]] * 2000, [*items, "msg_one_more"]):
        refused, took = await timed(user.native(feedback(ids)))
        text = assert_refused(refused.status, refused.body, 422, "validation_error", took)
        assert f"At most {EDGE.max_feedback_items} item ids" in text

    # At the cap, with one id that is not in the thread: 404 after one store call.
    calls = await store_calls(stack)
    refused, took = await timed(user.native(feedback([*items[1:], "msg_unknown"])))
    assert_refused(refused.status, refused.body, 404, "not_found", took)
    assert 1 <= await store_calls(stack) - calls <= 2
    assert await snapshot(user) == before

    # At the cap, every id known: a handful of store calls (the gateway's check, chat's
    # thread, its check and the saved feedback), not one per id.
    calls = await store_calls(stack)
    accepted = await user.native(feedback(items))
    assert accepted.status == 200, accepted.body
    assert await store_calls(stack) - calls <= 6
    headers = stack.acting_for(user.user_id)
    async with httpx.AsyncClient(base_url=stack.url("store"), headers=headers) as store:
        thread = (await store.get(f"/v1/threads/{thread_id}")).json()
    assert set(thread["thread"]["metadata"]["feedback"]) == set(items)


@pytest.mark.parametrize(
    ("changes", "status", "code", "says"),
    [
        (
            {"content": [{"type": "input_text", "text": "x" * 4000}] * 200},
            422,
            "validation_error",
            "content parts",
        ),
        (
            {"content": [{"type": "input_text", "text": "x" * 3000}] * 2},
            413,
            "payload_too_large",
            "longer than 4000 characters",
        ),
        (
            {
                "content": [
                    {
                        "type": "input_tag",
                        "id": "t",
                        "text": "tag",
                        "data": {"blob": "x" * 900_000},
                        "interactive": False,
                    }
                ]
            },
            413,
            "payload_too_large",
            "The message is larger",
        ),
        ({"inference_options": {"model": "m" * 900_000}}, 413, "payload_too_large", "model"),
    ],
    ids=["parts", "total-text", "tag-data", "model"],
)
async def test_a_message_past_its_bounds_is_refused(
    user: GatewayUser, changes: dict[str, Any], status: int, code: str, says: str
) -> None:
    thread_id = await new_thread(user)
    before = await snapshot(user)
    for body in (
        {"type": "threads.create", "params": {"input": message(**changes)}},
        {
            "type": "threads.add_user_message",
            "params": {"thread_id": thread_id, "input": message(**changes)},
        },
    ):
        refused, took = await timed(user.native(body))
        assert says in assert_refused(refused.status, refused.body, status, code, took)
    assert await snapshot(user) == before


async def test_titles_and_metadata_past_their_bounds_are_refused(user: GatewayUser) -> None:
    thread_id = await new_thread(user)
    before = await snapshot(user)
    for body in (
        {"type": "threads.update", "params": {"thread_id": thread_id, "title": "t" * 900_000}},
        {
            "type": "threads.update",
            "params": {"thread_id": thread_id, "title": "t" * (EDGE.max_title_chars + 1)},
        },
        {
            "type": "threads.get_by_id",
            "params": {"thread_id": thread_id},
            "metadata": {"m": "x" * (EDGE.max_metadata_bytes + 1)},
        },
    ):
        refused, took = await timed(user.native(body))
        assert_refused(refused.status, refused.body, 413, "payload_too_large", took)
    assert await snapshot(user) == before


async def test_a_retry_of_an_unknown_item_is_one_lookup(stack: Stack, user: GatewayUser) -> None:
    thread_id = await new_thread(user)
    await add_items(stack, user, thread_id, 60)  # the SDK would read them 20 at a time
    before = await snapshot(user)
    body = {
        "type": "threads.retry_after_item",
        "params": {"thread_id": thread_id, "item_id": "msg_not_there"},
    }
    calls = await store_calls(stack)
    refused, took = await timed(user.native(body))
    assert_refused(refused.status, refused.body, 404, "not_found", took)
    assert 1 <= await store_calls(stack) - calls <= 3
    assert await snapshot(user) == before
