"""Pages as the reader sees them: rendered at ingestion, sanitised, kept per corpus."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from services.retrieval.documents import parse_document
from services.retrieval.pages import PageStore, StoredPage, sanitize_html, table_of_contents

HOSTILE = """<html><head><title>Guide</title><script>alert("head")</script></head>
<body onload="alert('body')">
<h1>Guide</h1>
<p onclick="steal()">Read <a href="javascript:alert(1)">this</a> or
<a href="https://example.com/x">that</a>.</p>
<img src="pic.png" onerror="alert('img')">
<h2>Setup steps</h2><p style="color:red">Do it.</p>
<h2 id="own-id">Other</h2><p>More.</p>
<style>body { display: none }</style><iframe src="https://evil.example"></iframe>
<svg><script>alert('svg')</script></svg><form action="/x"><input name="q"></form>
<script>alert("body script")</script>
</body></html>"""


def page(document_id: str, chapter: int | None = None) -> StoredPage:
    return StoredPage(document_id, f"{document_id}.md", document_id, chapter, "x", "<p>x</p>")


def test_ingested_html_keeps_its_structure_and_loses_every_script() -> None:
    doc = parse_document("guides/intro.html", HOSTILE)
    html = doc.html
    for banned in (
        "<script",
        "alert",
        "onload",
        "onclick",
        "onerror",
        "javascript:",
        "<style",
        "style=",
        "<iframe",
        "<form",
        "<input",
    ):
        assert banned not in html, banned
    assert '<h2 id="setup-steps">Setup steps</h2>' in html
    assert '<h2 id="own-id">Other</h2>' in html
    assert '<a href="https://example.com/x"' in html and '<img src="pic.png">' in html
    # the anchors citations carry are the ids the page shows
    anchors = {s.anchor for s in doc.sections if s.anchor}
    assert anchors == {"setup-steps", "own-id"}
    assert "<title>" not in html and "Guide</title>" not in html


def test_markdown_renders_with_heading_ids_and_raw_html_as_text() -> None:
    doc = parse_document(
        "a/b.md", "# T\n\n## Hi there\n\n<script>alert(1)</script> [x](javascript:alert(1))\n"
    )
    assert '<h2 id="hi-there">Hi there</h2>' in doc.html
    assert "<script" not in doc.html and 'href="javascript' not in doc.html


def test_the_sanitiser_keeps_ids_and_code_languages() -> None:
    clean = sanitize_html('<pre><code class="language-py" onclick="x">1</code></pre><b id=a>b</b>')
    assert clean == '<pre><code class="language-py">1</code></pre><b id="a">b</b>'


def test_the_table_of_contents_groups_pages_by_folder_in_order() -> None:
    toc = table_of_contents(
        [
            page("02-b/01-x", 2),
            page("intro"),
            page("01-a/02-y", 1),
            page("01-a/01-x", 1),
            page("01-a/sub/deep", 1),
        ]
    )
    assert [(c.slug, c.title, c.chapter) for c in toc.chapters] == [
        ("", "", None),
        ("01-a", "A", 1),
        ("01-a/sub", "Sub", 1),
        ("02-b", "B", 2),
    ]
    assert [lesson.page for c in toc.chapters for lesson in c.lessons] == [
        "intro",
        "01-a/01-x",
        "01-a/02-y",
        "01-a/sub/deep",
        "02-b/01-x",
    ]


def test_a_folder_is_titled_as_its_index_page() -> None:
    index = replace(page("topics/db/index", 3), title="Models and databases")
    toc = table_of_contents([page("topics/db/models", 3), index, page("faq/install", 2)])
    assert [(c.slug, c.title) for c in toc.chapters] == [
        ("faq", "Faq"),
        ("topics/db", "Models and databases"),
    ]


async def test_pages_persist_per_corpus_and_neighbours_follow_the_order(tmp_path: Path) -> None:
    store = PageStore(tmp_path)
    await store.put("one", [page("01-a/02-y"), page("01-a/01-x"), page("02-b/01-z")])
    await store.put("two", [page("other/page")])
    again = PageStore(tmp_path)  # another process (the ingest command) reads the same files
    shown = await again.page("one", "01-a/02-y")
    assert shown is not None
    assert (shown.previous, shown.next, shown.lesson.page) == (
        "01-a/01-x",
        "02-b/01-z",
        "01-a/02-y",
    )
    assert await again.page("one", "other/page") is None
    assert await again.toc("nope") is None
    assert await again.delete("one", "01-a/02-y") and not await again.delete("one", "01-a/02-y")
    assert await store.documents("one") == {"01-a/01-x", "02-b/01-z"}  # re-read: changed on disk


async def test_a_read_only_data_dir_keeps_pages_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = PageStore(blocker / "pages")
    await store.put("c", [page("a/b")])
    assert await store.documents("c") == {"a/b"}
