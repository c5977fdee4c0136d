"""Parsing pages: front matter, folder layout, headings and anchors, HTML, bad input."""

from __future__ import annotations

import pytest

from services.retrieval.documents import document_id_for, normalize_page, parse_document
from services.retrieval.errors import InvalidDocument, UnsupportedDocument


def test_front_matter_wins_over_layout() -> None:
    doc = parse_document(
        "03-x/07-y.md", "---\ntitle: Real title\nchapter: 9\nlesson: real-lesson\n---\n\nBody.\n"
    )
    assert (doc.title, doc.chapter, doc.lesson) == ("Real title", 9, "real-lesson")
    assert doc.document_id == "03-x/07-y"
    assert doc.sections[0].text == "Body."


def test_layout_and_first_heading_when_no_front_matter() -> None:
    doc = parse_document("04-models/02-openai-keys.md", "# Using OpenAI keys\n\nText.\n")
    assert (doc.title, doc.chapter, doc.lesson) == ("Using OpenAI keys", 4, "openai-keys")


def test_duplicate_headings_get_numbered_anchors_and_inline_code_is_plain() -> None:
    doc = parse_document(
        "a.md", "# T\n\n## Setup\n\none\n\n## Setup\n\ntwo\n\n## The `search_book` tool\n\nx\n"
    )
    assert [s.anchor for s in doc.sections] == ["setup", "setup-1", "the-search_book-tool"]
    assert doc.sections[2].heading_path == ("T", "The search_book tool")


def test_html_headings_ids_and_meta() -> None:
    html = (
        "<html><head><title>Page</title><meta name='chapter' content='3'>"
        "<meta name='lesson' content='html-lesson'><script>var x;</script></head>"
        "<body><h1>Top</h1><p>Intro.</p><h2 id='custom'>Part A</h2><ul><li><p>one</p></li>"
        "<li>two</li></ul><h2>Part B</h2><pre>code\nline</pre></body></html>"
    )
    doc = parse_document("x/page.html", html)
    assert (doc.chapter, doc.lesson, doc.title) == (3, "html-lesson", "Page")
    assert [(s.heading_path, s.anchor) for s in doc.sections] == [
        (("Top",), None),
        (("Top", "Part A"), "custom"),
        (("Top", "Part B"), "part-b"),
    ]
    assert doc.sections[1].text == "- one\n\n- two"
    assert "var x" not in str(doc.sections)


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("book.pdf", UnsupportedDocument),
        ("notes.txt", UnsupportedDocument),
        ("noext", UnsupportedDocument),
        ("../etc/x.md", InvalidDocument),
        ("/abs.md", InvalidDocument),
    ],
)
def test_bad_paths(path: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        document_id_for(path)


def test_binary_junk_and_bad_front_matter_are_rejected() -> None:
    with pytest.raises(InvalidDocument, match="binary"):
        parse_document("a.md", "PK\x03\x04\x00\x00junk" * 100)
    with pytest.raises(InvalidDocument) as info:
        parse_document("a.md", "---\ntitle: [unclosed\n---\nbody")
    assert str(info.value).startswith("Front matter of 'a.md' is not valid YAML: ")
    with pytest.raises(InvalidDocument) as info:
        parse_document("a.md", "---\n- a list\n---\nbody")
    assert str(info.value) == "Front matter of 'a.md' must be a mapping."
    with pytest.raises(InvalidDocument) as info:
        parse_document("a.md", "---\nchapter: two\n---\nbody")
    assert str(info.value) == "'chapter' in 'a.md' must be an integer, not 'two'."


def test_normalize_page_accepts_ids_paths_and_links() -> None:
    for value in (
        "01-intro/02-setup",
        "/book/01-intro/02-setup#steps",
        "https://example.org/book/01-intro/02-setup/?x=1",
        "01-intro/02-setup.md",
    ):
        assert normalize_page(value) == "01-intro/02-setup", value
