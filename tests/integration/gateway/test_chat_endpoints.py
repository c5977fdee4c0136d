"""The gateway's two chat endpoints over real HTTP, against a real ChatKit upstream.

Rewrite correctness, native forwarding, every refusal (with nothing forwarded),
SSE headers, and ownership between users.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.integration.gateway.sse import read_all
from tests.integration.gateway.upstream import Control
from tests.support.servers import free_port

CONTEXT = {
    "page_context": {
        "current_chapter": 2,
        "current_lesson": "page-context-and-selection",
        "current_page": "02-asking-the-assistant/01-page-context-and-selection",
    },
    "selected_text": "  Two pieces of context travel with each message  ",
}


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["message"] and error["request_id"] == response.headers["x-request-id"]
    if code:
        assert error["code"] == code
    return error


async def ask(client: httpx.AsyncClient, body: dict[str, Any], path: str = "/assistant/chatkit"):
    async with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200, await response.aread()
        return response.headers, await read_all(response)


async def test_simple_payload_becomes_threads_create(
    client: httpx.AsyncClient, control: Control
) -> None:
    headers, got = await ask(client, {"query": "What is page context?", "context": CONTEXT})

    assert headers["content-type"] == "text/event-stream"
    assert headers["cache-control"] == "no-cache"
    assert headers["connection"] == "keep-alive"
    assert headers["x-accel-buffering"] == "no"
    assert got.text() == "word0 word1 word2 word3 word4 "
    assert got.of_type("progress_update")
    (sent,) = control.requests
    assert sent["type"] == "threads.create"
    message = sent["params"]["input"]
    assert message["content"] == [{"type": "input_text", "text": "What is page context?"}]
    assert message["quoted_text"] == "Two pieces of context travel with each message"
    assert message["attachments"] == []
    assert sent["metadata"] == {
        "page_context": CONTEXT["page_context"],
        "selected_text": "Two pieces of context travel with each message",
    }
    assert sent["_user"].startswith("anon_")


async def test_simple_payload_with_thread_adds_a_message(
    client: httpx.AsyncClient, control: Control
) -> None:
    _, first = await ask(client, {"query": "first"})
    thread_id = first.thread_id()
    _, second = await ask(client, {"query": "second", "thread_id": thread_id})

    assert not second.of_type("thread.created")
    assert second.text()
    sent = control.requests[-1]
    assert sent["type"] == "threads.add_user_message"
    assert sent["params"]["thread_id"] == thread_id
    assert sent["params"]["input"]["content"][0]["text"] == "second"
    assert sent["params"]["input"].get("quoted_text") is None
    assert sent["metadata"] == {"page_context": {}}


async def test_client_cannot_choose_its_user(client: httpx.AsyncClient, control: Control) -> None:
    client.headers["x-user-id"] = "someone_else"
    await ask(client, {"query": "who am I"})
    assert control.requests[0]["_user"].startswith("anon_")
    assert control.requests[0]["_headers"]["x-user-id"] != "someone_else"


async def test_native_requests_json_and_stream(client: httpx.AsyncClient, control: Control) -> None:
    create = {
        "type": "threads.create",
        "params": {
            "input": {
                "content": [{"type": "input_text", "text": "native"}],
                "attachments": [],
                "inference_options": {},
            }
        },
    }
    _, got = await ask(client, create, path="/chatkit")
    thread_id = got.thread_id()

    listed = await client.post("/chatkit", json={"type": "threads.list", "params": {}})
    assert listed.status_code == 200
    assert listed.headers["content-type"].startswith("application/json")
    assert [t["id"] for t in listed.json()["data"]] == [thread_id]

    renamed = await client.post(
        "/chatkit",
        json={"type": "threads.update", "params": {"thread_id": thread_id, "title": "Renamed"}},
    )
    assert renamed.status_code == 200 and renamed.json()["title"] == "Renamed"
    thread = await client.post(
        "/chatkit", json={"type": "threads.get_by_id", "params": {"thread_id": thread_id}}
    )
    items = thread.json()["items"]["data"]
    assert [i["type"] for i in items][:2] == ["user_message", "assistant_message"]
    assert items[1]["content"][0]["annotations"][0]["source"]["url"].startswith("/book/")

    deleted = await client.post(
        "/chatkit", json={"type": "threads.delete", "params": {"thread_id": thread_id}}
    )
    assert deleted.status_code == 200
    gone = await client.post(
        "/chatkit", json={"type": "threads.get_by_id", "params": {"thread_id": thread_id}}
    )
    assert_error(gone, 404, "not_found")


async def test_native_page_context_from_headers(
    client: httpx.AsyncClient, control: Control
) -> None:
    body = {
        "type": "threads.create",
        "params": {
            "input": {
                "content": [{"type": "input_text", "text": "headers"}],
                "attachments": [],
                "inference_options": {},
            }
        },
    }
    client.headers["x-page-context"] = quote(json.dumps({"current_chapter": 4}))
    client.headers["x-selected-text"] = quote("naïve selection")
    await ask(client, body, path="/chatkit")
    assert control.requests[0]["metadata"] == {
        "page_context": {"current_chapter": 4},
        "selected_text": "naïve selection",
    }


async def test_bad_input_is_refused_and_not_forwarded(
    client: httpx.AsyncClient, control: Control
) -> None:
    bad_json = await client.post(
        "/assistant/chatkit", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert_error(bad_json, 400, "bad_request")
    bad_native = await client.post(
        "/chatkit", content=b"[1,", headers={"content-type": "application/json"}
    )
    assert_error(bad_native, 400, "bad_request")
    unknown = await client.post("/chatkit", json={"type": "threads.explode", "params": {}})
    error = assert_error(unknown, 400, "unknown_request_type")
    assert "threads.create" in error["details"][0]["known_types"]
    untyped = await client.post("/chatkit", json={"params": {}})
    assert_error(untyped, 400, "unknown_request_type")
    long_query = await client.post("/assistant/chatkit", json={"query": "x" * 4001})
    assert_error(long_query, 413, "payload_too_large")
    long_native = await client.post(
        "/chatkit",
        json={
            "type": "threads.create",
            "params": {
                "input": {
                    "content": [{"type": "input_text", "text": "x" * 4001}],
                    "attachments": [],
                    "inference_options": {},
                }
            },
        },
    )
    assert_error(long_native, 413)
    long_selection = await client.post(
        "/assistant/chatkit", json={"query": "q", "context": {"selected_text": "s" * 4001}}
    )
    assert_error(long_selection, 413)
    missing_query = await client.post("/assistant/chatkit", json={"context": {}})
    assert_error(missing_query, 422, "validation_error")
    extra_field = await client.post("/assistant/chatkit", json={"query": "q", "user_id": "x"})
    assert_error(extra_field, 422)
    bad_page = await client.post(
        "/assistant/chatkit",
        json={"query": "q", "context": {"page_context": {"current_chapter": "three"}}},
    )
    assert_error(bad_page, 422)
    huge = await client.post(
        "/chatkit", content=b" " * (1_048_576 + 1), headers={"content-type": "application/json"}
    )
    assert_error(huge, 413)
    empty = await client.post("/chatkit", content=b"")
    assert_error(empty, 400)
    assert control.requests == []


async def test_other_users_threads_are_not_found(
    client: httpx.AsyncClient, gateway_url: str, control: Control
) -> None:
    _, got = await ask(client, {"query": "mine"})
    thread_id = got.thread_id()
    forwarded = len(control.requests)

    async with httpx.AsyncClient(base_url=gateway_url) as stranger:
        continue_it = await stranger.post(
            "/assistant/chatkit", json={"query": "yours?", "thread_id": thread_id}
        )
        assert_error(continue_it, 404, "not_found")
        for request in (
            {"type": "threads.get_by_id", "params": {"thread_id": thread_id}},
            {"type": "items.list", "params": {"thread_id": thread_id}},
            {"type": "threads.delete", "params": {"thread_id": thread_id}},
            {"type": "threads.update", "params": {"thread_id": thread_id, "title": "mine now"}},
        ):
            assert_error(await stranger.post("/chatkit", json=request), 404)
        missing = await stranger.post(
            "/assistant/chatkit", json={"query": "q", "thread_id": "thr_does_not_exist"}
        )
        assert_error(missing, 404)
    assert len(control.requests) == forwarded
    still_mine = await client.post(
        "/chatkit", json={"type": "threads.get_by_id", "params": {"thread_id": thread_id}}
    )
    assert still_mine.status_code == 200


@pytest.mark.parametrize("thread_id", ["", ".", ".."])
async def test_an_id_that_is_no_path_segment_names_no_thread(
    client: httpx.AsyncClient, control: Control, thread_id: str
) -> None:
    # Quoted into the store's URL it would name another route (the thread list answers 200).
    request = {"type": "threads.get_by_id", "params": {"thread_id": thread_id}}
    assert_error(await client.post("/chatkit", json=request), 404, "not_found")
    assert control.requests == []


async def test_forged_cookie_is_a_new_user(gateway_url: str, control: Control) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as c:
        c.cookies.set("chatkit_uid", "anon_victim.forgedsignature")
        await ask(c, {"query": "am I the victim?"})
    assert control.requests[0]["_user"] != "anon_victim"


async def test_origin_check(client: httpx.AsyncClient, control: Control) -> None:
    refused = await client.post(
        "/assistant/chatkit", json={"query": "q"}, headers={"origin": "https://evil.example"}
    )
    assert_error(refused, 403, "forbidden")
    assert control.requests == []
    same = client.base_url.netloc.decode()
    async with client.stream(
        "POST", "/assistant/chatkit", json={"query": "q"}, headers={"origin": f"http://{same}"}
    ) as response:
        assert response.status_code == 200
        await response.aread()


async def test_upstream_down_is_502(make_gateway: Any, control: Control) -> None:
    with make_gateway(chat_url="http://127.0.0.1:9") as url:
        async with httpx.AsyncClient(base_url=url) as c:
            assert_error(await c.post("/assistant/chatkit", json={"query": "q"}), 502)
            not_ready = await c.get("/readyz")
            assert_error(not_ready, 503)
            assert (await c.get("/healthz")).status_code == 200


async def test_health_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json()["status"] == "ready"
    metrics = (await client.get("/metrics")).text
    assert "gateway_open_streams" in metrics
    doc = (await client.get("/openapi.json")).json()
    assert "/assistant/chatkit" in doc["paths"] and "/chatkit" in doc["paths"]


async def test_metrics_port_keeps_metrics_off_the_public_port(make_gateway: Any) -> None:
    port = free_port()
    with make_gateway(metrics_port=port) as url:
        async with httpx.AsyncClient(base_url=url) as c:
            assert (await c.post("/assistant/chatkit", json={"query": "hello"})).status_code == 200
            assert_error(await c.get("/metrics"), 404)
            metrics = (await c.get(f"http://127.0.0.1:{port}/metrics")).text
        assert "gateway_open_streams" in metrics
        assert 'route="/assistant/chatkit",status="200"' in metrics
    async with httpx.AsyncClient() as c:
        with pytest.raises(httpx.ConnectError):  # the listener stops with the app
            await c.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
