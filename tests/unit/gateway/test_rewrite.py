"""Turning the simple payload into a ChatKit request, and validating native ones."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from services.gateway.app import ERRORS
from services.gateway.rewrite import Limits, parse_native, simple_to_chatkit
from shared.contracts.gateway import SimplePayload
from shared.errors import DomainError

LIMITS = Limits(100, 1000, frozenset({"image/png", "text/plain"}))


def test_simple_payload_rewrite() -> None:
    payload = SimplePayload.model_validate(
        {
            "query": "Why?",
            "context": {"page_context": {"current_chapter": 3}, "selected_text": " s "},
        }
    )
    forward = simple_to_chatkit(payload, LIMITS)
    assert forward.streaming and forward.thread_ids == []
    request = forward.request
    assert request.type == "threads.create"
    assert request.params.input.content[0].text == "Why?"
    assert request.params.input.quoted_text == "s"
    assert request.metadata == {"page_context": {"current_chapter": 3}, "selected_text": "s"}
    again = simple_to_chatkit(SimplePayload(query="and?", thread_id="thr_1"), LIMITS)
    assert again.request.type == "threads.add_user_message"
    assert again.thread_ids == ["thr_1"]
    # The forwarded body parses with the SDK on the other side.
    parse_native(again.body(), Headers(), LIMITS)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{", 400, None),
        (b'{"type": "nope", "params": {}}', 400, "unknown_request_type"),
        (b'{"params": {}}', 400, "unknown_request_type"),
        (b'"threads.list"', 400, "unknown_request_type"),
        (b'{"type": "threads.get_by_id", "params": {}}', 422, None),
        (
            b'{"type": "attachments.create", "params": '
            b'{"name": "a", "size": 1, "mime_type": "x/y"}}',
            415,
            None,
        ),
        (
            b'{"type": "attachments.create", "params": '
            b'{"name": "a", "size": 5000, "mime_type": "text/plain"}}',
            413,
            None,
        ),
    ],
)
def test_native_refusals(body: bytes, status: int, code: str | None) -> None:
    with pytest.raises(DomainError) as caught:
        parse_native(body, Headers(), LIMITS)
    assert ERRORS[type(caught.value)] == status  # the gateway's error table
    assert caught.value.code == code


def test_native_collects_what_to_check() -> None:
    body = (
        b'{"type": "threads.add_user_message", "params": {"thread_id": "thr_9", "input": '
        b'{"content": [{"type": "input_text", "text": "hi"}], "attachments": ["atc_1"], '
        b'"inference_options": {}}}, "metadata": {"selected_text": "  "}}'
    )
    forward = parse_native(
        body, Headers({"x-page-context": "%7B%22current_page%22%3A%22p%22%7D"}), LIMITS
    )
    assert forward.streaming
    assert forward.thread_ids == ["thr_9"] and forward.attachment_ids == ["atc_1"]
    assert forward.request.metadata == {"page_context": {"current_page": "p"}}
    listing = parse_native(b'{"type": "threads.list", "params": {}}', Headers(), LIMITS)
    assert not listing.streaming and listing.thread_ids == []
