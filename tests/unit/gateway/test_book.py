"""The book the web client reads: table of contents, lessons, and refused page ids.
(That its heading ids are the anchors retrieval cites: tests/unit/shared/test_book_format.py.)"""

from __future__ import annotations

import re

from services.gateway.book import PAGE_ID, Book
from services.gateway.routes import STATIC
from services.gateway.settings import ROOT

PAGE = "02-asking-the-assistant/01-page-context-and-selection"


def test_lessons_of_the_demo_book() -> None:
    book = Book(ROOT / "docs" / "book")
    toc = book.toc()
    assert toc.chapters and toc.chapters[0].lessons
    page = book.page(PAGE)
    assert page is not None
    assert page.lesson.chapter == 2 and page.lesson.lesson == "page-context-and-selection"
    assert 'id="the-page_context-object"' in page.html


def test_page_ids_outside_the_book_are_refused() -> None:
    book = Book(ROOT / "docs" / "book")
    assert book.page("../../etc/passwd") is None and book.page("nope/nope") is None
    assert book.page(f"{PAGE}/../../../etc/passwd") is None


def test_the_web_client_checks_page_ids_with_the_gateways_rule() -> None:
    source = (STATIC / "book.js").read_text()
    match = re.search(r"^const PAGE_ID = /(.+)/;$", source, re.MULTILINE)
    assert match, "book.js has no PAGE_ID"
    assert match[1].replace("\\/", "/") == PAGE_ID.pattern
