"""Turning the simple payload into a ChatKit request, and validating native ones."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from starlette.datastructures import Headers

from services.gateway.app import ERRORS
from services.gateway.rewrite import Limits, parse_native, simple_to_chatkit
from services.gateway.settings import GatewaySettings
from shared.contracts.gateway import SimplePayload
from shared.errors import DomainError

LIMITS = Limits.from_settings(
    GatewaySettings(
        _env_file=None,
        max_query_chars=100,
        attachment_max_bytes=1000,
        attachment_mime_types=["image/png", "text/plain"],
        max_message_parts=3,
        max_message_bytes=2048,
        max_attachments_per_message=2,
        max_feedback_items=2,
        max_title_chars=20,
        max_metadata_bytes=1024,
    )
)


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


def message(*content: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "content": list(content) or [{"type": "input_text", "text": "hi"}],
        "attachments": [],
        "inference_options": {},
        **extra,
    }


def text(value: str) -> dict[str, Any]:
    return {"type": "input_text", "text": value}


def tag(**fields: Any) -> dict[str, Any]:
    return {"type": "input_tag", "id": "t1", "text": "ch1", "data": {}, **fields}


def create(**extra: Any) -> dict[str, Any]:
    return {"type": "threads.create", "params": {"input": message(**extra)}}


def refusal(body: dict[str, Any]) -> tuple[int, str]:
    with pytest.raises(DomainError) as caught:
        parse_native(json.dumps(body).encode(), Headers(), LIMITS)
    return ERRORS[type(caught.value)], caught.value.message


def thread_request(request_type: str, **params: Any) -> dict[str, Any]:
    return {"type": request_type, "params": {"thread_id": "thr_1", **params}}


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        # how many: 422
        (create(attachments=["atc_1"] * 3), 422, "At most 2 attachments"),
        (
            {"type": "threads.create", "params": {"input": message(*[text("a")] * 4)}},
            422,
            "At most 3 content parts",
        ),
        (
            thread_request("items.feedback", item_ids=["m"] * 3, kind="positive"),
            422,
            "At most 2 item ids",
        ),
        # how large: 413
        (
            {
                "type": "threads.create",
                "params": {"input": message(text("a" * 60), text("b" * 41))},
            },
            413,
            "longer than 100 characters",
        ),
        (
            {
                "type": "threads.create",
                "params": {"input": message(text("a" * 90), tag(text="b" * 11))},
            },
            413,
            "longer than 100 characters",
        ),
        (
            {"type": "threads.create", "params": {"input": message(tag(data={"x": "y" * 3000}))}},
            413,
            "The message is larger than 2048 bytes",
        ),
        (
            {"type": "threads.create", "params": {"input": message(tag(id="i" * 256))}},
            413,
            "A tag's id",
        ),
        (
            {"type": "threads.create", "params": {"input": message(tag(group="g" * 256))}},
            413,
            "A tag's group",
        ),
        (create(inference_options={"model": "m" * 256}), 413, "inference_options.model"),
        (create(inference_options={"tool_choice": {"id": "t" * 256}}), 413, "tool choice"),
        (create(quoted_text="q" * 4001), 413, "selected text"),
        (
            {**create(), "metadata": {"anything": "x" * 1100}},
            413,
            "metadata is larger than 1024 bytes",
        ),
        (thread_request("threads.update", title="t" * 21), 413, "Titles are limited to 20"),
        (
            thread_request("threads.add_client_tool_output", result={"x": "y" * 3000}),
            413,
            "client tool's result",
        ),
        (
            thread_request(
                "threads.custom_action", action={"type": "more", "payload": {"x": "y" * 3000}}
            ),
            413,
            "The action",
        ),
        (
            thread_request(
                "threads.add_structured_input",
                item_id="s1",
                input={"answers": {"q": {"values": ["v" * 3000]}}},
            ),
            413,
            "structured input",
        ),
        (
            {
                "type": "attachments.create",
                "params": {"name": "n" * 256, "size": 1, "mime_type": "text/plain"},
            },
            413,
            "File names",
        ),
        (
            {
                "type": "attachments.create",
                "params": {"name": "a", "size": 1, "mime_type": "text/plain; x=" + "y" * 300},
            },
            413,
            "MIME types",
        ),
    ],
)
def test_limits_refuse_what_is_too_many_or_too_large(
    body: dict[str, Any], status: int, says: str
) -> None:
    got_status, message_text = refusal(body)
    assert got_status == status
    assert says in message_text


def test_repeated_ids_are_forwarded_and_checked_once() -> None:
    body = create(attachments=["atc_1", "atc_2", "atc_1"])
    limits = Limits(**{**LIMITS.__dict__, "max_attachments": 3})
    forward = parse_native(json.dumps(body).encode(), Headers(), limits)
    assert forward.attachment_ids == ["atc_1", "atc_2"]
    assert forward.request.params.input.attachments == ["atc_1", "atc_2"]
    feedback = thread_request("items.feedback", item_ids=["m1", "m1"], kind="negative")
    forward = parse_native(json.dumps(feedback).encode(), Headers(), LIMITS)
    assert forward.thread_ids == ["thr_1"] and forward.item_ids == ["m1"]
    assert json.loads(forward.body())["params"]["item_ids"] == ["m1"]


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("threads.retry_after_item", {"item_id": "m1"}),
        ("threads.add_structured_input", {"item_id": "m1", "input": {}}),
        ("threads.custom_action", {"item_id": "m1", "action": {"type": "a"}}),
    ],
)
def test_items_a_request_names_are_checked(kind: str, params: dict[str, Any]) -> None:
    forward = parse_native(json.dumps(thread_request(kind, **params)).encode(), Headers(), LIMITS)
    assert forward.thread_ids == ["thr_1"] and forward.item_ids == ["m1"]


def test_a_message_at_the_limits_is_accepted() -> None:
    body = {
        "type": "threads.create",
        "params": {"input": message(text("a" * 50), tag(text="b" * 25), text("c" * 25))},
        "metadata": {"page_context": {"current_page": "p"}},
    }
    forward = parse_native(json.dumps(body).encode(), Headers(), LIMITS)
    assert len(forward.request.params.input.content) == 3


def test_a_hostile_body_is_refused_quickly() -> None:
    """A 1 MiB body of 26,000 attachment ids is refused on its count, not checked id by id."""
    ids = [f"atc_{n:036d}" for n in range(26_000)]
    raw = json.dumps(create(attachments=ids)).encode()
    assert len(raw) > 1_000_000
    started = time.monotonic()
    with pytest.raises(DomainError) as caught:
        parse_native(raw, Headers(), LIMITS)
    assert ERRORS[type(caught.value)] == 422
    assert time.monotonic() - started < 1.0
