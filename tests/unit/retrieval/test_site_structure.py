"""A build's chapters from its navigation, its pages' published URLs from a site URL or a
sitemap, carried as the `<meta>` tags the parser reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.retrieval.documents import parse_ingested
from services.retrieval.site_structure import (
    SiteError,
    SiteOptions,
    chapters_of,
    site_files,
    sitemap_urls,
)

HOME = """<html><head><title>Demo</title></head><body>
<nav><a href="guide/index.html">Guide</a> <a href="https://example.org/x/">Elsewhere</a>
<a href="./api/ref.html#top">API</a></nav></body></html>"""
PAGE = "<html><head><title>{t}</title></head><body><h1>{t}</h1><p>Text of {t}.</p></body></html>"


def _write(root: Path, files: dict[str, str]) -> list[tuple[str, str]]:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, "utf-8")
    return sorted(files.items())


def test_chapters_follow_the_home_pages_links_then_names(tmp_path: Path) -> None:
    _write(tmp_path, {"index.html": HOME})
    paths = ["index.html", "api/ref.html", "guide/a.html", "zoo/b.html", "extra/c.html"]
    assert chapters_of(tmp_path, paths) == {
        "guide/a.html": 1,
        "api/ref.html": 2,
        "extra/c.html": 3,
        "zoo/b.html": 4,
    }
    assert chapters_of(tmp_path, paths, ["zoo"])["zoo/b.html"] == 1


def test_numbered_folders_keep_their_own_chapters(tmp_path: Path) -> None:
    files = _write(
        tmp_path,
        {
            "01-intro/page.html": PAGE.format(t="Intro"),
            "guide/02-setup/page.html": PAGE.format(t="Setup"),
            "guide/plain.html": PAGE.format(t="Plain"),
        },
    )
    docs = {d.path: parse_ingested(d) for d in site_files(tmp_path, files)}
    assert docs["01-intro/page.html"].chapter == 1
    assert docs["guide/02-setup/page.html"].chapter == 2
    assert docs["guide/plain.html"].chapter == 1  # guide/ is the only unnumbered folder


def test_a_pages_own_meta_wins_over_the_build(tmp_path: Path) -> None:
    page = '<html><head><meta name="chapter" content="7"></head><body><p>x</p></body></html>'
    files = _write(tmp_path, {"guide/a.html": page})
    (doc,) = site_files(tmp_path, files)
    assert doc.chapter == 1  # what the build says...
    assert parse_ingested(doc).chapter == 7  # ...and what the page says, which wins


def test_site_url_and_sitemap_give_published_urls(tmp_path: Path) -> None:
    files = _write(
        tmp_path,
        {
            "index.html": HOME,
            "guide/index.html": PAGE.format(t="Guide"),
            "guide/setup.html": PAGE.format(t="Setup"),
            "api/ref.html": PAGE.format(t="Ref"),
            "notes.md": "# Notes\n\nMarkdown stays as it is.\n",
        },
    )
    with_url = site_files(tmp_path, files, SiteOptions(url="https://docs.example.com/v2"))
    urls = {d.path: parse_ingested(d).url for d in with_url}
    assert urls["guide/setup.html"] == "https://docs.example.com/v2/guide/setup.html"
    assert urls["notes.md"] is None
    sitemap = tmp_path / "sitemap.xml"
    sitemap.write_text(
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<url><loc>https://docs.example.com/v2/</loc></url>"
        "<url><loc>https://docs.example.com/v2/guide/</loc></url>"
        "<url><loc>https://docs.example.com/v2/guide/setup</loc></url>"
        "<url><loc>https://docs.example.com/v2/gone/</loc></url></urlset>"
    )
    assert sitemap_urls(tmp_path, sitemap) == {
        "index.html": "https://docs.example.com/v2/",
        "guide/index.html": "https://docs.example.com/v2/guide/",
        "guide/setup.html": "https://docs.example.com/v2/guide/setup",
    }
    listed = site_files(tmp_path, files, SiteOptions(sitemap=sitemap))
    assert [d.path for d in listed] == ["guide/index.html", "guide/setup.html", "index.html"]
    assert site_files(tmp_path, files, SiteOptions(sitemap=sitemap)) == listed  # stable


def test_site_file(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(
        "url: https://docs.example.com/\nsitemap: build/sitemap.xml\nchapters: [b, a]\n"
    )
    options = SiteOptions.from_file(config, url="https://other.example.com/", chapters=())
    assert options == SiteOptions(
        url="https://other.example.com/",
        sitemap=tmp_path / "build/sitemap.xml",
        chapters=("b", "a"),
    )
    config.write_text("site: nope\n")
    with pytest.raises(SiteError, match="unknown keys"):
        SiteOptions.from_file(config)
    bad = tmp_path / "sitemap.xml"
    bad.write_text("<urlset>")
    with pytest.raises(SiteError, match="sitemap"):
        sitemap_urls(tmp_path, bad)
