"""Two-phase uploads: the chat service creates the record, the bytes go to the gateway."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx

from tests.integration.chat.conftest import ChatClient, user_input

GATEWAY = {"x-gateway-url": "https://books.example.com"}


async def test_attachment_record_points_uploads_at_the_gateway(
    chat_url: str, store_url: str, connect: Callable[[str, str], ChatClient]
) -> None:
    user = f"u_{uuid.uuid4().hex[:8]}"
    client = connect(chat_url, user)
    create = {
        "type": "attachments.create",
        "params": {"name": "figure.png", "size": 1234, "mime_type": "image/png"},
    }
    reply = await client.post(create, headers=GATEWAY)
    assert reply.status == 200, reply.body
    attachment = reply.body
    assert attachment["id"].startswith("atc_")
    base = f"https://books.example.com/attachments/{attachment['id']}"
    assert attachment["upload_descriptor"] == {
        "url": f"{base}/upload",
        "method": "POST",
        "headers": {},
    }
    assert attachment["preview_url"] == f"{base}/content"

    # the SDK saved the record in the store, for this user only
    async with httpx.AsyncClient(base_url=store_url) as store:
        own = await store.get(f"/v1/attachments/{attachment['id']}", headers={"x-user-id": user})
        other = await store.get(f"/v1/attachments/{attachment['id']}", headers={"x-user-id": "x"})
    assert own.status_code == 200 and own.json()["attachment"]["name"] == "figure.png"
    assert other.status_code == 404

    # a message can carry it
    message_input = user_input("What is in this figure?")
    message_input["attachments"] = [attachment["id"]]
    body = {"type": "threads.create", "params": {"input": message_input}}
    created = await client.post(body)
    assert created.status == 200
    (message,) = [i for i in created.items("user_message")]
    assert [a.id for a in message.attachments] == [attachment["id"]]

    deleted = await client.post(
        {"type": "attachments.delete", "params": {"attachment_id": attachment["id"]}}
    )
    assert deleted.status == 200
    async with httpx.AsyncClient(base_url=store_url) as store:
        gone = await store.get(f"/v1/attachments/{attachment['id']}", headers={"x-user-id": user})
    assert gone.status_code == 404


async def test_upload_without_the_gateway_is_refused(
    chat_url: str, connect: Callable[[str, str], ChatClient]
) -> None:
    client = connect(chat_url, f"u_{uuid.uuid4().hex[:8]}")
    create = {
        "type": "attachments.create",
        "params": {"name": "notes.txt", "size": 10, "mime_type": "text/plain"},
    }
    reply = await client.post(create)
    assert reply.status == 400, reply.body
    assert "gateway" in reply.body["error"]["message"]
