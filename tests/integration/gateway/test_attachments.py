"""Attachment uploads (direct and two-phase) through the gateway into the real store."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.gateway.test_chat_endpoints import assert_error
from tests.integration.gateway.upstream import Control

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def user_of(client: httpx.AsyncClient) -> str:
    return str(client.cookies["chatkit_uid"]).partition(".")[0]


async def test_direct_upload_and_owner_only_download(
    client: httpx.AsyncClient, gateway_url: str
) -> None:
    response = await client.post("/attachments", files={"file": ("page.png", PNG, "image/png")})
    assert response.status_code == 200, response.text
    attachment = response.json()
    assert attachment["type"] == "image" and attachment["name"] == "page.png"
    assert attachment["mime_type"] == "image/png"
    assert "upload_descriptor" not in attachment and "metadata" not in attachment
    content_url = f"/attachments/{attachment['id']}/content"
    assert attachment["preview_url"] == f"{gateway_url}{content_url}"

    own = await client.get(content_url)
    assert own.status_code == 200 and own.content == PNG
    assert own.headers["content-type"] == "image/png"
    assert own.headers["x-content-type-options"] == "nosniff"
    async with httpx.AsyncClient(base_url=gateway_url) as stranger:
        assert_error(await stranger.get(content_url), 404, "not_found")

    text = await client.post("/attachments", files={"file": ("notes.md", b"# hi", "text/markdown")})
    assert text.status_code == 200 and text.json()["type"] == "file"


async def test_upload_limits(client: httpx.AsyncClient, make_gateway: Any) -> None:
    html = await client.post("/attachments", files={"file": ("x.html", b"<p>", "text/html")})
    assert_error(html, 415, "unsupported_media_type")
    lying = await client.post("/attachments", files={"file": ("x.png", b"GIF89a...", "image/png")})
    assert_error(lying, 415)
    binary_text = await client.post(
        "/attachments", files={"file": ("x.txt", b"\x00\x01", "text/plain")}
    )
    assert_error(binary_text, 415)
    no_file = await client.post("/attachments", files={"other": ("x.png", PNG, "image/png")})
    assert_error(no_file, 400)
    with make_gateway(attachment_max_bytes=1000) as url:
        async with httpx.AsyncClient(base_url=url) as c:
            big = await c.post("/attachments", files={"file": ("x.png", PNG * 20, "image/png")})
            assert_error(big, 413, "payload_too_large")


async def test_two_phase_upload(
    client: httpx.AsyncClient, store_url: str, gateway_url: str, control: Control
) -> None:
    # What the chat service does on `attachments.create`: metadata with an upload link.
    attachment_id = "atc_twophase1"
    upload_url = f"{gateway_url}/attachments/{attachment_id}/upload"
    metadata = {
        "type": "file",
        "id": attachment_id,
        "name": "notes.txt",
        "mime_type": "text/plain",
        "upload_descriptor": {"url": upload_url, "method": "POST", "headers": {}},
    }
    async with httpx.AsyncClient(base_url=store_url, headers={"x-user-id": user_of(client)}) as s:
        saved = await s.put(f"/v1/attachments/{attachment_id}", json={"attachment": metadata})
        assert saved.status_code == 204, saved.text

    async with httpx.AsyncClient(base_url=gateway_url) as stranger:
        theirs = await stranger.post(upload_url, files={"file": ("n.txt", b"hi", "text/plain")})
        assert_error(theirs, 404)
    wrong = await client.post(upload_url, files={"file": ("n.png", PNG, "image/png")})
    assert_error(wrong, 415)  # not the type declared at creation
    done = await client.post(upload_url, files={"file": ("notes.txt", b"hello", "text/plain")})
    assert done.status_code == 200, done.text
    assert "upload_descriptor" not in done.json()
    again = await client.put(upload_url, content=b"again", headers={"content-type": "text/plain"})
    assert_error(again, 409)
    content = await client.get(f"/attachments/{attachment_id}/content")
    assert content.content == b"hello"
    assert content.headers["content-disposition"] == "attachment"


async def test_attachment_requests_are_checked_at_the_edge(
    client: httpx.AsyncClient, control: Control
) -> None:
    bad_type = await client.post(
        "/chatkit",
        json={
            "type": "attachments.create",
            "params": {"name": "a.exe", "size": 10, "mime_type": "application/x-msdownload"},
        },
    )
    assert_error(bad_type, 415)
    too_big = await client.post(
        "/chatkit",
        json={
            "type": "attachments.create",
            "params": {"name": "a.png", "size": 10**9, "mime_type": "image/png"},
        },
    )
    assert_error(too_big, 413)
    someone_elses = await client.post(
        "/chatkit",
        json={
            "type": "threads.create",
            "params": {
                "input": {
                    "content": [{"type": "input_text", "text": "see file"}],
                    "attachments": ["atc_not_mine"],
                    "inference_options": {},
                }
            },
        },
    )
    assert_error(someone_elses, 404)
    assert control.requests == []
