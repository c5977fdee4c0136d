"""Pure parts of the gateway: rewrite, native validation, cookies, buckets, book anchors."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from services.gateway.attachments import looks_like
from services.gateway.auth import CookieSigner
from services.gateway.book import Book
from services.gateway.ratelimit import LocalBuckets
from services.gateway.rewrite import Limits, parse_native, simple_to_chatkit
from services.gateway.settings import ROOT
from shared.contracts.gateway import SimplePayload
from shared.errors import ApiError

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
        (b"{", 400, "bad_request"),
        (b'{"type": "nope", "params": {}}', 400, "unknown_request_type"),
        (b'{"params": {}}', 400, "unknown_request_type"),
        (b'"threads.list"', 400, "unknown_request_type"),
        (b'{"type": "threads.get_by_id", "params": {}}', 422, "validation_error"),
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
    with pytest.raises(ApiError) as caught:
        parse_native(body, Headers(), LIMITS)
    assert caught.value.status == status
    if code:
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


def test_cookie_signer() -> None:
    signer = CookieSigner(b"k", max_age_s=60)
    value = signer.cookie_value("anon_1")
    assert value.startswith("anon_1.")
    assert signer.user_id(value) == "anon_1"
    assert signer.user_id(value[:-1] + ("A" if value[-1] != "A" else "B")) is None
    assert signer.user_id("anon_2." + value.partition(".")[2]) is None
    assert CookieSigner(b"other", max_age_s=60).user_id(value) is None
    assert signer.user_id(None) is None and signer.user_id("garbage") is None
    assert signer.user_id("anon_1." + "A" * 600) is None


class SignedAgo(CookieSigner):
    """A signer whose clock runs `seconds` behind: its values are that old when made."""

    def __init__(self, secret: bytes, seconds: int) -> None:
        super().__init__(secret, max_age_s=60)
        self.seconds = seconds

    def get_timestamp(self) -> int:
        return super().get_timestamp() - self.seconds


def test_cookie_expires_on_the_server() -> None:
    signer = CookieSigner(b"k", max_age_s=60)
    assert signer.user_id(SignedAgo(b"k", 59).cookie_value("anon_1")) == "anon_1"
    assert signer.user_id(SignedAgo(b"k", 61).cookie_value("anon_1")) is None
    # A timestamp in the future (a forged one, or another clock) is refused too.
    assert signer.user_id(SignedAgo(b"k", -5).cookie_value("anon_1")) is None


def test_local_buckets_burst_then_rate() -> None:
    buckets = LocalBuckets()
    results = [buckets.take("k", rate_per_s=1, burst=3).allowed for _ in range(4)]
    assert results == [True, True, True, False]
    refused = buckets.take("k", rate_per_s=1, burst=3)
    assert 0 < refused.retry_after_s <= 1
    assert buckets.take("other", rate_per_s=1, burst=3).allowed


def test_magic_numbers() -> None:
    assert looks_like("image/png", b"\x89PNG\r\n\x1a\n...")
    assert not looks_like("image/png", b"<svg>")
    assert looks_like("image/webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ")
    assert looks_like("text/plain", "héllo".encode())
    assert not looks_like("text/plain", b"\xff\xfe\x00")


def test_book_anchors_match_retrieval() -> None:
    book = Book(ROOT / "docs" / "book")
    toc = book.toc()
    assert toc.chapters and toc.chapters[0].lessons
    page = book.page("02-asking-the-assistant/01-page-context-and-selection")
    if page is None:
        pytest.skip("the demo book changed")
    assert page.lesson.chapter == 2 and page.lesson.lesson == "page-context-and-selection"
    assert 'id="the-page_context-object"' in page.html
    assert book.page("../../etc/passwd") is None and book.page("nope/nope") is None
    try:
        from services.retrieval.documents import parse_document
    except ImportError:
        return
    path = ROOT / "docs" / "book" / "02-asking-the-assistant" / "01-page-context-and-selection.md"
    parsed = parse_document(
        "02-asking-the-assistant/01-page-context-and-selection.md", path.read_text("utf-8")
    )
    for section in parsed.sections:
        if section.anchor:
            assert f'id="{section.anchor}"' in page.html
