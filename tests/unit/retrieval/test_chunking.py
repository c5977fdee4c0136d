"""Chunking: heading sections, the size cap, overlap, code fences kept whole, stable ids."""

from __future__ import annotations

import itertools

from services.retrieval.chunking import (
    chunk_document,
    chunk_payload,
    point_id,
    split_text,
    text_hash,
)
from services.retrieval.documents import parse_document

PAGE = """---
title: Installing
chapter: 2
lesson: installing
---

# Installing

Intro paragraph about installing.

## Requirements

You need Python 3.11.

### Optional extras

Redis makes the cache shared.

## Steps

Run `make install`.
"""


def test_one_chunk_per_heading_section_with_heading_path_and_anchor() -> None:
    doc = parse_document("02-setup/01-installing.md", PAGE)
    chunks = chunk_document(doc, max_chars=500, overlap=50)
    assert [c.heading_path for c in chunks] == [
        ("Installing",),
        ("Installing", "Requirements"),
        ("Installing", "Requirements", "Optional extras"),
        ("Installing", "Steps"),
    ]
    assert [c.anchor for c in chunks] == [None, "requirements", "optional-extras", "steps"]
    assert chunks[1].text == "You need Python 3.11."
    assert chunks[1].embedding_text().startswith("Installing > Requirements\n\n")
    assert [c.index for c in chunks] == [0, 1, 2, 3]


def test_long_section_split_under_cap_with_overlap() -> None:
    sentences = [f"Sentence number {i} talks about topic {i} at some length." for i in range(60)]
    text = "\n\n".join(" ".join(sentences[i : i + 3]) for i in range(0, 60, 3))
    pieces = split_text(text, max_chars=300, overlap=60)
    assert len(pieces) > 5
    assert all(len(p) <= 300 for p in pieces)
    for prev, nxt in itertools.pairwise(pieces):
        carried = nxt.split("\n\n", 1)[0]
        assert carried and prev.endswith(carried), (prev, nxt)
        assert len(carried) <= 60
    # Nothing lost: every sentence appears in some piece.
    joined = " ".join(pieces)
    assert all(s in joined for s in sentences)


def test_single_huge_paragraph_is_split_by_sentences_then_words() -> None:
    words = " ".join(f"word{i}" for i in range(1000))
    pieces = split_text(words, max_chars=200, overlap=0)
    assert all(len(p) <= 200 for p in pieces)
    assert " ".join(pieces).split() == words.split()


def test_code_fence_with_blank_lines_stays_in_one_piece() -> None:
    code = "```python\nx = 1\n\ny = 2\n```"
    text = "Before the code. " * 10 + "\n\n" + code + "\n\n" + "After the code. " * 10
    pieces = split_text(text, max_chars=200, overlap=0)
    assert any(code in p for p in pieces)


def test_short_text_is_one_piece_and_empty_is_none() -> None:
    assert split_text("  hello  ", 100, 10) == ["hello"]
    assert split_text("   ", 100, 10) == []


def test_point_ids_are_stable_and_change_with_content_corpus_and_model() -> None:
    doc = parse_document("02-setup/01-installing.md", PAGE)
    chunk = chunk_document(doc)[1]
    payload = chunk_payload("c1", doc, chunk, "/book")
    assert payload["url"] == "/book/02-setup/01-installing#requirements"
    assert payload["chapter"] == 2 and payload["lesson"] == "installing"
    same = point_id("c1", chunk_payload("c1", doc, chunk, "/book"), "m")
    assert point_id("c1", payload, "m") == same
    assert point_id("c2", chunk_payload("c2", doc, chunk, "/book"), "m") != same
    assert point_id("c1", payload, "other-model") != same
    edited = parse_document("02-setup/01-installing.md", PAGE.replace("3.11", "3.12"))
    assert (
        point_id("c1", chunk_payload("c1", edited, chunk_document(edited)[1], "/book"), "m") != same
    )


def test_text_hash_ignores_whitespace_and_case() -> None:
    assert text_hash("Hello  World\n") == text_hash("hello world")
    assert text_hash("hello") != text_hash("hello!")
