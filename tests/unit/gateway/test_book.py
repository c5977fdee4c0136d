"""The page ids the gateway relays to the retrieval service, and the web client's equal rule.
(That rendered heading ids are the anchors retrieval cites: tests/unit/shared/test_book_format.py;
the relay itself: tests/integration/gateway/test_book_relay.py.)"""

from __future__ import annotations

import re

import pytest

from services.gateway.book import PAGE_ID, is_page_id
from services.gateway.embed import STATIC


@pytest.mark.parametrize(
    "page",
    ["02-asking/01-page-context", "intro", "guides/deep/nested/page", "v1.2/notes_a-b"],
)
def test_document_ids_of_any_folder_depth_are_page_ids(page: str) -> None:
    assert is_page_id(page)


@pytest.mark.parametrize(
    "page",
    [
        "../../etc/passwd",
        "a/../../b",
        "a/..",
        "..",
        "a//b",
        "/a/b",
        "a/b/",
        "a%2Fb",
        "a\\b",
        "a b/c",
        "",
        "a/" * 600 + "b",
    ],
)
def test_page_ids_outside_the_book_are_refused(page: str) -> None:
    assert not is_page_id(page)


def test_the_web_client_checks_page_ids_with_the_gateways_rule() -> None:
    source = (STATIC / "book.js").read_text()
    match = re.search(r"^const PAGE_ID = /(.+)/;$", source, re.MULTILINE)
    assert match, "book.js has no PAGE_ID"
    assert match[1].replace("\\/", "/") == PAGE_ID.pattern
    assert '!page.includes("..")' in source  # and `..` is refused apart, as is_page_id does
