"""Attachments in the web client: chosen in the composer, uploaded with ChatKit's direct
and two-phase strategies through the real gateway and store, previewed, removable, sent
with the message and shown in it; refused files are said, not uploaded."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.integration.gateway.upstream import Control

pytestmark = pytest.mark.e2e

# A 1x1 PNG: the gateway checks that the bytes look like the type they claim.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
CREATE_TYPES = ("threads.create", "threads.add_user_message")


async def test_an_image_is_uploaded_previewed_sent_and_shown(
    page: Any, e2e_control: Control
) -> None:
    chooser = page.locator("#composer input.attach-input")
    await chooser.set_input_files(
        [
            {"name": "diagram.png", "mimeType": "image/png", "buffer": PNG},
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"my notes"},
        ]
    )
    chips = page.locator("#composer li.attachment")
    await page.wait_for_function(
        "() => panel().querySelectorAll('#composer li.attachment').length === 2"
    )
    assert await chips.nth(0).locator("img").count() == 1  # a preview for the image
    assert await chips.nth(1).locator("img").count() == 0
    # one removed before sending
    await chips.nth(1).get_by_role("button", name="Remove notes.txt").click()
    assert await chips.count() == 1
    image_id = await chips.nth(0).get_attribute("data-attachment-id")
    await page.fill("#question", "What does this diagram show?")
    await page.click("#send")
    await page.locator(".msg.assistant:not(.streaming) >> text=word4").wait_for()
    sent = [r for r in e2e_control.requests if r["type"] in CREATE_TYPES][-1]
    assert sent["params"]["input"]["attachments"] == [image_id]
    shown = page.locator(".msg.user .attachment-sent img")
    await shown.wait_for()
    # the image is served back to its owner from the gateway
    assert await shown.evaluate("(img) => img.complete && img.naturalWidth") == 1
    assert await chips.count() == 0  # the composer is empty again


async def test_two_phase_upload_through_the_gateway(stack_page: Any) -> None:
    """The real platform: the chat service creates the attachment (its AttachmentStore),
    the gateway takes the bytes at the descriptor's address."""
    result = await stack_page.evaluate(
        """async (bytes) => {
          const { gatewayClient } = await import("/static/api.js");
          const { AttachmentTray } = await import("/static/attachments.js");
          const box = document.createElement("div");
          const actions = document.createElement("div");
          const before = document.createElement("span");
          actions.append(before);
          box.append(actions);
          document.body.append(box);
          const limits = { max_bytes: 1 << 20, mime_types: ["image/png"], max_per_message: 3 };
          const tray = new AttachmentTray({ composer: box, actions, before }, gatewayClient(),
            { strategy: { type: "two_phase" }, limits });
          const file = new File([new Uint8Array(bytes)], "two.png", { type: "image/png" });
          const attachment = await tray.upload(file);
          const content = await fetch(`/attachments/${attachment.id}/content`);
          return { id: attachment.id, descriptor: attachment.upload_descriptor ?? null,
                   status: content.status, size: (await content.arrayBuffer()).byteLength,
                   ids: tray.ids() };
        }""",
        list(PNG),
    )
    assert result["status"] == 200 and result["size"] == len(PNG)
    assert result["descriptor"] is None  # uploaded: the descriptor is spent
    assert result["ids"] == [result["id"]]


async def test_a_file_the_gateway_would_refuse_is_not_uploaded(page: Any) -> None:
    chooser = page.locator("#composer input.attach-input")
    await chooser.set_input_files(
        [{"name": "tool.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ..."}]
    )
    status = page.locator("#composer .attach-status")
    await status.filter(has_text="cannot be attached").wait_for()
    assert await page.locator("#composer li.attachment").count() == 0


async def test_the_platform_answers_a_message_with_an_image(stack_page: Any) -> None:
    """The real chat service reads the message with its attachment (the offline model
    answers from the book; the converter gives a hosted model the image)."""
    page = stack_page
    await page.locator("#composer input.attach-input").set_input_files(
        [{"name": "diagram.png", "mimeType": "image/png", "buffer": PNG}]
    )
    await page.locator("#composer li.attachment img").wait_for()
    await page.fill("#question", "How do I run the platform locally?")
    await page.click("#send")
    await page.locator(".msg.user .attachment-sent img").wait_for()
    await page.locator(".msg.assistant:not(.streaming) a.cite").first.wait_for()
    assert await page.locator(".msg.notice.error").count() == 0
