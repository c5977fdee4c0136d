"""A documentation build as a book: chapters from the site's own structure, links to the
published site.

A build whose folders are not numbered (`faq/`, `topics/`, `ref/`) still has an order: the
navigation or table of contents of its home page lists its sections. Each top-level folder
is a chapter, numbered in the order the home page (`index.html`) first links into it,
folders it never links to after them in name order; a page is a lesson of its folder's
chapter, pages at the top of the build have none. A per-corpus site file (`--site-config`)
or `--chapters` can name the order instead.

What the build says of a page travels with it as the document's `url` and `chapter`
(`IngestDocument`, through `POST /v1/documents` from the command line to a running
service); a page's own `<meta name="chapter">` and a numbered `NN-` folder still win. The
same build with the same options gives the same documents, so re-ingesting it writes
nothing.
"""

from __future__ import annotations

import logging
import posixpath
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml
from bs4 import BeautifulSoup, Tag

from shared.book_format import numbered
from shared.contracts.retrieval import IngestDocument

logger = logging.getLogger(__name__)

HTML_SUFFIXES = (".html", ".htm")


class SiteError(ValueError):
    """A site file or sitemap that cannot be read."""


@dataclass(frozen=True)
class SiteOptions:
    """How one corpus maps to its published site."""

    url: str | None = None
    """The published site's base URL (`https://docs.example.com/`): hits link there,
    `<url><page path>#<anchor>`, instead of the reader's `/book/...`."""
    sitemap: Path | None = None
    """A `sitemap.xml` on disk: the pages to ingest and their published URLs."""
    chapters: Sequence[str] = field(default_factory=tuple)
    """Top-level folders in chapter order (empty: the home page's navigation order)."""

    @classmethod
    def from_file(cls, path: Path, **overrides: Any) -> SiteOptions:
        """Read a site file (YAML: `url`, `sitemap`, `chapters`), `sitemap` relative to
        the file; `overrides` that are not None win over it."""
        try:
            data = yaml.safe_load(path.read_text("utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SiteError(f"{path}: {exc}") from None
        if not isinstance(data, dict):
            raise SiteError(f"{path}: a site file is a mapping (url, sitemap, chapters)")
        unknown = set(data) - {"url", "sitemap", "chapters"}
        if unknown:
            raise SiteError(f"{path}: unknown keys {sorted(unknown)} (url, sitemap, chapters)")
        chapters = data.get("chapters") or []
        if not isinstance(chapters, list) or not all(isinstance(c, str) for c in chapters):
            raise SiteError(f"{path}: 'chapters' is a list of folder names")
        sitemap = data.get("sitemap")
        values: dict[str, Any] = {
            "url": data.get("url"),
            "sitemap": (path.parent / str(sitemap)) if sitemap else None,
            "chapters": tuple(chapters),
        }
        values.update({k: v for k, v in overrides.items() if v})
        return cls(**values)


def chapter_order(root: Path, folders: Sequence[str], explicit: Sequence[str] = ()) -> list[str]:
    """`folders` (top-level folder names) in chapter order: `explicit` first, then the order
    in which `root/index.html` first links into them, then by name."""
    order = [f for f in explicit if f in folders]
    home = root / "index.html"
    if home.is_file():
        soup = BeautifulSoup(home.read_text("utf-8", errors="replace"), "html.parser")
        for link in soup.find_all("a", href=True):
            if not isinstance(link, Tag):
                continue
            href = str(link["href"])
            if urlsplit(href).scheme or href.startswith(("#", "/")):
                continue
            target = posixpath.normpath(urlsplit(href).path)
            top = target.split("/", 1)[0]
            if "/" in target and top in folders and top not in order:
                order.append(top)
    order.extend(sorted(f for f in folders if f not in order))
    return order


def chapters_of(root: Path, paths: Sequence[str], explicit: Sequence[str] = ()) -> dict[str, int]:
    """Chapter number (1-based) of each path in a top-level folder that is not numbered;
    paths in numbered folders and at the top of the build are left out."""
    folders = sorted(
        {p.split("/", 1)[0] for p in paths if "/" in p and numbered(p.split("/", 1)[0])[0] is None}
    )
    if not folders:
        return {}
    number = {folder: i for i, folder in enumerate(chapter_order(root, folders, explicit), 1)}
    chapters = {}
    for path in paths:
        parts = path.split("/")
        if len(parts) < 2 or parts[0] not in number:
            continue
        if any(numbered(part)[0] is not None for part in parts[:-1]):
            continue  # a numbered folder inside gives the chapter, as in a book
        chapters[path] = number[parts[0]]
    return chapters


def sitemap_urls(root: Path, sitemap: Path, base: str | None = None) -> dict[str, str]:
    """`{relative file path: published URL}` for each `<loc>` of `sitemap` that is a page
    of the build under `root` (`x/` -> `x/index.html`, `x` -> `x.html` or `x/index.html`).
    `base` is the site's URL; by default the folder all the URLs share."""
    try:
        tree = ET.parse(sitemap)
    except (OSError, ET.ParseError) as exc:
        raise SiteError(f"sitemap {sitemap}: {exc}") from None
    locs = [
        (el.text or "").strip()
        for el in tree.getroot().iter()
        if el.tag.rsplit("}", 1)[-1] == "loc" and (el.text or "").strip()
    ]
    if not locs:
        return {}
    if base is None:
        common = posixpath.commonprefix(locs)
        base = common[: common.rfind("/") + 1]
    found: dict[str, str] = {}
    missing = 0
    for loc in locs:
        path = urlsplit(loc).path
        base_path = urlsplit(base).path
        if not path.startswith(base_path):
            missing += 1
            continue
        rel = path[len(base_path) :].lstrip("/")
        candidates = (
            [rel + "index.html"]
            if rel.endswith("/") or not rel
            else [rel]
            if rel.lower().endswith(HTML_SUFFIXES)
            else [rel + ".html", rel + "/index.html"]
        )
        file = next((c for c in candidates if (root / c).is_file()), None)
        if file is None:
            missing += 1
            continue
        found[file] = loc
    if missing:
        logger.warning("%d sitemap URLs have no page under %s", missing, root)
    return found


def page_url(base: str, path: str) -> str:
    """The published URL of the page at `path` of a site served from `base`."""
    return urljoin(base if base.endswith("/") else base + "/", path)


def site_files(
    root: Path, files: Sequence[tuple[str, str]], options: SiteOptions | None = None
) -> list[IngestDocument]:
    """The build's `(path, text)` pages as documents to ingest, with what the site says
    about them: the chapter of each HTML page in an unnumbered top-level folder and, given
    a site URL or a sitemap, its published URL. With a sitemap, only the pages it lists."""
    options = options or SiteOptions()
    root = Path(root)
    if root.is_file():
        return [IngestDocument(path=p, content=c) for p, c in files]
    urls: dict[str, str] = {}
    if options.sitemap is not None:
        urls = sitemap_urls(root, options.sitemap, options.url)
        files = [(p, c) for p, c in files if p in urls]
    elif options.url:
        urls = {p: page_url(options.url, p) for p, _ in files}
    pages = [p for p, _ in files if p.lower().endswith(HTML_SUFFIXES)]
    chapters = chapters_of(root, pages, options.chapters)
    html = set(pages)  # a Markdown page says where it is published in its front matter
    return [
        IngestDocument(
            path=path,
            content=content,
            url=urls.get(path) if path in html else None,
            chapter=chapters.get(path),
        )
        for path, content in files
    ]
