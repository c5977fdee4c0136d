"""The book's rules, and the property citations depend on: for every page, the heading ids
of the page retrieval serves the reader, its chapter and lesson are the anchors, chapter
and lesson retrieval stores with the page's chunks."""

from __future__ import annotations

from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from services.retrieval.chunking import chunk_document, chunk_payload
from services.retrieval.documents import parse_document
from services.retrieval.ingest import book_files
from services.retrieval.pages import table_of_contents
from shared.book_format import (
    Anchors,
    FrontMatterError,
    headings,
    markdown,
    numbered,
    page_info,
    read_markdown,
    slugify,
    split_front_matter,
)

BOOK = Path(__file__).resolve().parents[3] / "docs" / "book"
URL_BASE = "/book"  # where the web client serves pages, and retrieval's default url_base


def heading_ids(html: str) -> list[str]:
    soup = BeautifulSoup(html, "html.parser")
    return [str(h["id"]) for h in soup.find_all(["h1", "h2", "h3", "h4", "h5", "h6"], id=True)]


def assert_citations_land(rel_path: str, content: str) -> int:
    """Every chunk retrieval makes of the page links to the page and a heading of the HTML
    it serves the reader, with the chapter and lesson the web client will send back.
    Returns how many chunks carry an anchor."""
    doc = parse_document(rel_path, content)
    lesson = doc.page().entry()
    assert (lesson.page, lesson.title, lesson.chapter, lesson.lesson) == (
        doc.document_id,
        doc.title,
        doc.chapter,
        doc.lesson,
    )
    ids = heading_ids(doc.html)
    assert len(ids) == len(set(ids)), f"repeated heading ids in {doc.document_id}: {ids}"
    anchored = 0
    for chunk in chunk_document(doc):
        url = chunk_payload("default", doc, chunk, URL_BASE)["url"]
        path, _, anchor = url.partition("#")
        assert path == f"{URL_BASE}/{lesson.page}"
        if anchor:
            assert anchor in ids, f"{url} names no heading of the rendered page"
            anchored += 1
    return anchored


def test_every_citation_of_the_demo_book_lands_on_a_rendered_heading() -> None:
    files = book_files(BOOK)
    toc = table_of_contents(parse_document(path, content).page() for path, content in files)
    served = [lesson.page for chapter in toc.chapters for lesson in chapter.lessons]
    assert sorted(served) == sorted(path.rsplit(".", 1)[0] for path, _ in files)
    anchored = sum(assert_citations_land(path, content) for path, content in files)
    assert anchored > 2 * len(files)  # the property was checked on real anchors


def test_tricky_headings_agree_too(tmp_path: Path) -> None:
    page = """---
title: Tricky
chapter: 7
---
# Tricky

## Setup

one

## Setup

two

## Setup 1

three

> ## Quoted heading
>
> not a section of its own

- ## Listed heading

<div>
## After raw HTML

four

## The `search_book` tool, *again*!

five
"""
    assert assert_citations_land("07-ops/02-tricky.md", page) == 5
    anchors = [s.anchor for s in parse_document("07-ops/02-tricky.md", page).sections]
    assert anchors == [
        "setup",
        "setup-1",
        "setup-1-1",
        "after-raw-html",
        "the-search_book-tool-again",
    ]


def test_the_path_gives_chapter_lesson_and_title_without_front_matter() -> None:
    info = page_info("03-setup/02-openai-keys", {}, None)
    assert (info.chapter, info.lesson, info.title) == (3, "openai-keys", "Openai keys")
    assert page_info("guide/04_models/sub/intro", {}, "Intro").chapter == 4
    assert page_info("notes/page", {}, None).chapter is None
    assert page_info("9/10", {}, None).lesson == "10"


def test_a_lesson_is_the_path_below_its_chapter_and_an_index_page_its_folders() -> None:
    def lesson(page: str) -> str:
        return page_info(page, {}, None).lesson

    assert [lesson(p) for p in ("faq/index", "topics/db/index", "index")] == ["faq", "db", "index"]
    assert lesson("ref/models/fields") != lesson("ref/forms/fields")
    assert lesson("ref/models/fields") == "models/fields"
    assert lesson("guide/04_models/sub/01-intro") == "sub/intro"
    assert lesson("02-guide/index") == "guide"
    assert page_info("faq/index", {"lesson": "start"}, None).lesson == "start"


def test_front_matter_wins_and_a_bad_chapter_is_refused() -> None:
    meta = {"title": "Real", "chapter": "9", "lesson": "real-lesson"}
    info = page_info("03-x/07-y", meta, "Heading")
    assert (info.title, info.chapter, info.lesson) == ("Real", 9, "real-lesson")
    assert page_info("03-x/07-y", {"chapter": None, "lesson": " "}, "H").chapter == 3
    for bad in ("two", True, 2.5):
        with pytest.raises(FrontMatterError) as info_:
            page_info("03-x/07-y", {"chapter": bad}, None)
        assert info_.value.about("'y.md'").startswith("'chapter' in 'y.md' must be an integer")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("03-setup", (3, "setup")),
        ("03_setup", (3, "setup")),
        ("03", (3, "")),
        ("setup", (None, "setup")),
        ("3d-models", (None, "3d-models")),
        ("03 setup", (None, "03 setup")),
    ],
)
def test_the_number_prefix(name: str, expected: tuple[int | None, str]) -> None:
    assert numbered(name) == expected


def test_front_matter_is_split_from_the_body() -> None:
    assert split_front_matter("\ufeff---\r\ntitle: A\r\n---\r\n# A\n") == ({"title": "A"}, "# A\n")
    assert split_front_matter("---\n---\nbody") == ({}, "body")
    assert split_front_matter("# No front matter\n---\n") == ({}, "# No front matter\n---\n")
    with pytest.raises(FrontMatterError, match="must be a mapping"):
        split_front_matter("---\n- a\n---\n")
    with pytest.raises(FrontMatterError, match="not valid YAML"):
        split_front_matter("---\ntitle: [x\n---\n")


def test_a_page_with_broken_front_matter_is_read_leniently_on_request() -> None:
    text = "---\nchapter: two\n---\n# Page\n\n## Part\n"
    with pytest.raises(FrontMatterError):
        read_markdown("05-x/01-page", text, markdown())
    page = read_markdown("05-x/01-page", text, markdown(), strict=False)
    assert (page.meta, page.info.chapter, page.info.title) == ({}, 5, "Page")
    assert [h.anchor for h in page.headings] == ["page", "part"]


def test_anchors_are_github_style_and_unique() -> None:
    assert slugify("What `make run` does!") == "what-make-run-does"
    assert slugify("\uff26\uff55\uff4c\uff4c width  and ünïcode") == "full-width--and-ünïcode"
    anchors = Anchors()
    assert [anchors(t) for t in ("A b", "A b", "a-b-1", "?!", "?!")] == [
        "a-b",
        "a-b-1",
        "a-b-1-1",
        "section",
        "section-1",
    ]


def test_headings_are_the_top_level_ones_with_their_lines() -> None:
    md = markdown()
    tokens = md.parse("# T\n\n> # quoted\n\n## A\ntext\n\nB\n-\n")
    found = headings(tokens)
    assert [(h.level, h.text, h.anchor, h.line, h.end_line) for h in found] == [
        (1, "T", "t", 0, 1),
        (2, "A", "a", 4, 5),
        (2, "B", "b", 7, 9),
    ]
    assert heading_ids(md.renderer.render(tokens, md.options, {})) == ["t", "a", "b"]
