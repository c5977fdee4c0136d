"""Parse book pages (Markdown with YAML front matter, or HTML) into titled sections, and
render each as the reader sees it.

Title, chapter, lesson and heading anchors follow `shared.book_format`; the rendered page
(`ParsedDocument.html`, sanitised) carries those anchors as heading ids, so a citation
`/book/<page>#<anchor>` lands on the heading it names.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from bs4 import BeautifulSoup, Tag

from services.retrieval.errors import InvalidDocument, UnsupportedDocument
from services.retrieval.pages import StoredPage, sanitize_html
from services.retrieval.site_html import anchor_of, extract, heading_text, is_link_block
from shared.book_format import (
    Anchors,
    FrontMatterError,
    PageInfo,
    markdown,
    page_info,
    read_markdown,
)
from shared.contracts.retrieval import DOCUMENT_SUFFIXES, IngestDocument

MARKDOWN_SUFFIXES = (".md", ".markdown")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")
_md = markdown()


@dataclass(frozen=True)
class Section:
    """Text under one heading (not including its sub-sections)."""

    heading_path: tuple[str, ...]
    """Headings from the page title down to this section."""
    anchor: str | None
    """Fragment id of the heading (None: the top of the page)."""
    text: str
    """The section's body (Markdown source or plain text for HTML)."""


@dataclass(frozen=True)
class ParsedDocument:
    """A page ready for chunking."""

    document_id: str
    path: str
    title: str
    chapter: int | None
    lesson: str | None
    url: str | None
    """Link from front matter (`url`/`permalink`), overriding the default."""
    content_hash: str
    sections: list[Section] = field(default_factory=list)
    html: str = ""
    """The page body as the reader sees it: sanitised HTML, headings carrying the anchors
    of `sections`."""

    def page(self) -> StoredPage:
        """What the page store keeps of it."""
        return StoredPage(
            document_id=self.document_id,
            path=self.path,
            title=self.title,
            chapter=self.chapter,
            lesson=self.lesson or "",
            html=self.html,
        )


def document_id_for(path: str) -> str:
    """The id of the file at `path` (relative, '/'-separated, without its suffix).

    Raises UnsupportedDocument for an unsupported suffix, InvalidDocument for an unsafe path.
    """
    clean = path.strip().replace("\\", "/")
    while clean.startswith("./"):
        clean = clean[2:]
    pure = PurePosixPath(clean)
    if pure.is_absolute() or not pure.parts or any(p in ("..", ".", "") for p in pure.parts):
        raise InvalidDocument(f"Document path {path!r} must be relative, without '..'.")
    if pure.suffix.lower() not in DOCUMENT_SUFFIXES:
        raise UnsupportedDocument(
            f"Unsupported file type {pure.suffix or '(none)'!r} for {path!r}; "
            f"supported: {', '.join(DOCUMENT_SUFFIXES)}."
        )
    return str(pure.with_suffix(""))


def normalize_page(value: str, url_base: str = "/book") -> str:
    """Map what a frontend may send as `current_page` (id, path or link) to a document id."""
    page = value.split("#", 1)[0].split("?", 1)[0].strip().replace("\\", "/")
    page = re.sub(r"^[a-z]+://[^/]+", "", page)
    base = url_base.strip("/")
    page = page.strip("/")
    if base and (page == base or page.startswith(base + "/")):
        page = page[len(base) :].lstrip("/")
    suffix = PurePosixPath(page).suffix.lower()
    if suffix in DOCUMENT_SUFFIXES:
        page = page[: -len(suffix)]
    return page


def check_text(content: str, path: str) -> None:
    """Reject content that is binary junk rather than text."""
    sample = content[:100_000]
    if "\x00" in sample or len(_CONTROL.findall(sample)) > max(8, len(sample) // 100):
        raise InvalidDocument(f"{path!r} does not look like a text document (binary data).")


def parse_document(
    path: str, content: str, *, url: str | None = None, chapter: int | None = None
) -> ParsedDocument:
    """Parse one file by its suffix. `url` and `chapter`: what its site says of it (the
    page's own front matter or `<meta>` wins). Raises DocumentError on unsupported or bad
    input."""
    document_id = document_id_for(path)
    check_text(content, path)
    given = {k: v for k, v in (("url", url), ("chapter", chapter)) if v is not None}
    digest = hashlib.sha256(content.encode("utf-8", "surrogatepass"))
    if given:  # the same page at another URL or in another chapter is a change
        digest.update(repr(sorted(given.items())).encode())
    content_hash = digest.hexdigest()
    try:
        if PurePosixPath(path.strip()).suffix.lower() in MARKDOWN_SUFFIXES:
            return _parse_markdown(document_id, path, content, content_hash, given)
        return _parse_html(document_id, path, content, content_hash, given)
    except FrontMatterError as exc:
        raise InvalidDocument(exc.about(repr(path))) from None


def parse_ingested(doc: IngestDocument) -> ParsedDocument:
    """`parse_document` of a document as `POST /v1/documents` carries it."""
    return parse_document(doc.path, doc.content, url=doc.url, chapter=doc.chapter)


def _parse_markdown(
    document_id: str, path: str, content: str, content_hash: str, given: dict[str, Any]
) -> ParsedDocument:
    page = read_markdown(document_id, content, _md, defaults=given)
    lines = page.body.splitlines()
    sections: list[Section] = []
    stack: list[tuple[int, str]] = [(0, page.info.title)]
    anchor: str | None = None
    start = 0
    for heading in page.headings:
        sections.append(_section(stack, anchor, lines[start : heading.line]))
        if heading.level == 1 and len(stack) == 1:
            stack = [(1, heading.text)]
            anchor = None
        else:
            while stack and stack[-1][0] >= heading.level:
                stack.pop()
            stack.append((heading.level, heading.text))
            anchor = heading.anchor
        start = heading.end_line
    sections.append(_section(stack, anchor, lines[start:]))
    html = _md.renderer.render(page.tokens, _md.options, {})
    return _document(document_id, path, page.info, _url(page.meta), content_hash, sections, html)


def _url(meta: dict[str, Any]) -> str | None:
    for key in ("url", "permalink"):
        value = meta.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _document(
    document_id: str,
    path: str,
    info: PageInfo,
    url: str | None,
    content_hash: str,
    sections: list[Section],
    html: str,
) -> ParsedDocument:
    return ParsedDocument(
        document_id=document_id,
        path=path,
        title=info.title,
        chapter=info.chapter,
        lesson=info.lesson,
        url=url,
        content_hash=content_hash,
        sections=[s for s in sections if s.text],
        html=sanitize_html(html),
    )


def _section(stack: list[tuple[int, str]], anchor: str | None, lines: list[str]) -> Section:
    return Section(tuple(text for _, text in stack), anchor, "\n".join(lines).strip())


_BLOCKS = ["p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption"]
_HEADINGS = ["h1", "h2", "h3", "h4", "h5", "h6"]


def _parse_html(
    document_id: str, path: str, content: str, content_hash: str, given: dict[str, Any]
) -> ParsedDocument:
    soup = BeautifulSoup(content, "html.parser")
    meta = given | {
        str(tag.get("name")).lower(): str(tag.get("content") or "")
        for tag in soup.find_all("meta")
        if isinstance(tag, Tag) and tag.get("name")
    }
    url = meta.get("url") or None
    site = extract(soup, content)
    if site is not None:
        # A page of a documentation build: its content only, anchors as the site has them.
        info = page_info(document_id, meta, site.title or None)
        sections = _html_sections(site.main, info.title, site_anchors=True, hub=site.is_hub)
        if site.is_link_list:
            sections = []  # an index or table of contents: a page to read, not a passage
        html = site.main.decode_contents()
        return _document(document_id, path, info, url, content_hash, sections, html)
    for junk in soup(["script", "style", "nav", "noscript", "template"]):
        junk.decompose()
    first_h1 = soup.find("h1")
    title_tag = soup.find("title")
    first_heading = (title_tag.get_text(" ", strip=True) if title_tag else "") or (
        first_h1.get_text(" ", strip=True) if first_h1 else ""
    )
    info = page_info(document_id, meta, first_heading or None)
    root = soup.body or soup
    sections = _html_sections(root, info.title, site_anchors=False)
    for head in root.find_all(["head", "title", "meta", "link"]):
        head.decompose()  # a fragment without <body> still has them at the root
    return _document(document_id, path, info, url, content_hash, sections, root.decode_contents())


def _html_sections(
    root: Tag, title: str, *, site_anchors: bool, hub: bool = False
) -> list[Section]:
    """Sections of `root` under its headings; each heading gets its anchor as `id`.

    `site_anchors`: take a heading's anchor from the page (`site_html.anchor_of`) and its
    text without a permalink sign; else from its own id or its text. `hub`: a hub page's
    blocks of links are left out (`site_html.is_link_block`), its prose kept."""
    anchors = Anchors()
    sections: list[Section] = []
    # (level, text, anchor) of the headings down to the current section
    stack: list[tuple[int, str, str | None]] = [(0, title, None)]
    anchor: str | None = None
    texts: list[str] = []
    seen_h1 = False
    for element in root.find_all([*_HEADINGS, *_BLOCKS]):
        if element.find_parent([*_BLOCKS, *_HEADINGS]) is not None:
            continue  # counted with its enclosing block
        if element.name in _HEADINGS:
            text = heading_text(element) if site_anchors else element.get_text(" ", strip=True)
            sections.append(Section(tuple(t for _, t, _ in stack), anchor, "\n\n".join(texts)))
            texts = []
            level = int(element.name[1])
            if level == 1 and len(stack) == 1:
                # The page's first h1 is its top; a later one (DocBook's chapters) has its
                # own anchor on a site.
                anchor = anchor_of(element) if site_anchors and seen_h1 else None
                if anchor:
                    element["id"] = anchor
                stack = [(1, text, anchor)]
                seen_h1 = True
                continue
            while stack and stack[-1][0] >= level:
                stack.pop()
            if site_anchors:
                # A heading the site gives no anchor is cited by the nearest one above it
                # (or the page): a made-up fragment would land nowhere on the real site.
                found = anchor_of(element)
                anchor = found or next((a for _, _, a in reversed(stack) if a), None)
            else:
                own = element.get("id")
                found = str(own) if own else anchors(text)
                anchor = found
            if found:
                element["id"] = found  # where citations of the section land
            stack.append((level, text, found))
            continue
        if hub and is_link_block(element):
            continue  # the hub's navigation
        if element.name != "pre":
            text = element.get_text(" ", strip=True)
        elif site_anchors:  # highlighted code: spans inside lines, the page's own newlines
            text = element.get_text().strip("\n")
        else:
            text = element.get_text("\n", strip=True)
        if text:
            texts.append(f"- {text}" if element.name == "li" else text)
    sections.append(Section(tuple(t for _, t, _ in stack), anchor, "\n\n".join(texts)))
    return sections
