"""Parse book pages (Markdown with YAML front matter, or HTML) into titled sections.

Chapter, lesson and title come from front matter (or HTML `<meta>`), else from the
layout `NN-chapter-slug/NN-lesson-slug.md` and the first `#` heading.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import yaml
from bs4 import BeautifulSoup, Tag
from markdown_it import MarkdownIt

from shared.contracts.retrieval import DOCUMENT_SUFFIXES

MARKDOWN_SUFFIXES = (".md", ".markdown")
_NUMBERED = re.compile(r"^(\d+)[-_ .]+(.*)$")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?\r?\n)?---[ \t]*(\r?\n|\Z)", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")
_md = MarkdownIt("commonmark").enable("table")


class DocumentError(ValueError):
    """A document that cannot be ingested; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


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


def document_id_for(path: str) -> str:
    """The id of the file at `path` (relative, '/'-separated, without its suffix).

    Raises DocumentError (415) for an unsupported suffix, (422) for an unsafe path.
    """
    clean = path.strip().replace("\\", "/")
    while clean.startswith("./"):
        clean = clean[2:]
    pure = PurePosixPath(clean)
    if pure.is_absolute() or not pure.parts or any(p in ("..", ".", "") for p in pure.parts):
        raise DocumentError(422, f"Document path {path!r} must be relative, without '..'.")
    if pure.suffix.lower() not in DOCUMENT_SUFFIXES:
        raise DocumentError(
            415,
            f"Unsupported file type {pure.suffix or '(none)'!r} for {path!r}; "
            f"supported: {', '.join(DOCUMENT_SUFFIXES)}.",
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


def slugify(text: str) -> str:
    """GitHub-style heading anchor: lowercase, punctuation dropped, spaces to hyphens."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return re.sub(r" ", "-", text)


class _Anchors:
    """Unique anchors within one page, numbered like GitHub does (`x`, `x-1`, ...)."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, text: str) -> str:
        slug = slugify(text) or "section"
        count = self.seen.get(slug, 0)
        self.seen[slug] = count + 1
        return slug if count == 0 else f"{slug}-{count}"


def check_text(content: str, path: str) -> None:
    """Reject content that is binary junk rather than text (422)."""
    sample = content[:100_000]
    if "\x00" in sample or len(_CONTROL.findall(sample)) > max(8, len(sample) // 100):
        raise DocumentError(422, f"{path!r} does not look like a text document (binary data).")


def parse_document(path: str, content: str) -> ParsedDocument:
    """Parse one file by its suffix. Raises DocumentError on unsupported or bad input."""
    document_id = document_id_for(path)
    check_text(content, path)
    content_hash = hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()
    if PurePosixPath(path.strip()).suffix.lower() in MARKDOWN_SUFFIXES:
        meta, body = _split_front_matter(content, path)
        return _parse_markdown(document_id, path, meta, body, content_hash)
    return _parse_html(document_id, path, content, content_hash)


def _split_front_matter(content: str, path: str) -> tuple[dict[str, Any], str]:
    content = content.lstrip("\ufeff")
    match = _FRONT_MATTER.match(content)
    if not match:
        return {}, content
    try:
        meta = yaml.safe_load(match.group(1) or "") or {}
    except yaml.YAMLError as exc:
        raise DocumentError(422, f"Front matter of {path!r} is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise DocumentError(422, f"Front matter of {path!r} must be a mapping.")
    return meta, content[match.end() :]


def _layout(document_id: str) -> tuple[int | None, str | None, str]:
    """Chapter number, lesson slug and a readable title from `NN-chapter/NN-lesson`."""
    parts = document_id.split("/")
    chapter = None
    for part in parts[:-1]:
        match = _NUMBERED.match(part)
        if match:
            chapter = int(match.group(1))
    stem = parts[-1]
    match = _NUMBERED.match(stem)
    lesson = match.group(2) if match else stem
    return chapter, lesson or stem, (lesson or stem).replace("-", " ").replace("_", " ").title()


def _meta_int(meta: dict[str, Any], key: str, path: str) -> int | None:
    value = meta.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise DocumentError(422, f"{key!r} in {path!r} must be an integer.")
    try:
        return int(str(value).strip())
    except ValueError:
        raise DocumentError(
            422, f"{key!r} in {path!r} must be an integer, not {value!r}."
        ) from None


def _meta_str(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return str(value).strip() or None if value is not None else None


def _parse_markdown(
    document_id: str, path: str, meta: dict[str, Any], body: str, content_hash: str
) -> ParsedDocument:
    chapter, lesson, fallback_title = _layout(document_id)
    tokens = _md.parse(body)
    lines = body.splitlines()
    headings: list[tuple[int, str, int, int]] = []  # level, text, first line, next line
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.map and token.level == 0:
            inline = tokens[i + 1]
            text = "".join(
                child.content for child in (inline.children or []) if child.type != "softbreak"
            ).strip()
            headings.append((int(token.tag[1]), text, token.map[0], token.map[1]))

    title = _meta_str(meta, "title")
    first_h1 = next((text for level, text, _, _ in headings if level == 1), None)
    title = title or first_h1 or fallback_title
    anchors = _Anchors()
    sections: list[Section] = []
    stack: list[tuple[int, str]] = [(0, title)]
    anchor: str | None = None
    start = 0
    for level, text, first, after in headings:
        sections.append(_section(stack, anchor, lines[start:first]))
        if level == 1 and len(stack) == 1:
            stack = [(1, text)]
            anchor = None
            anchors(text)
        else:
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, text))
            anchor = anchors(text)
        start = after
    sections.append(_section(stack, anchor, lines[start:]))
    return ParsedDocument(
        document_id=document_id,
        path=path,
        title=title,
        chapter=_meta_int(meta, "chapter", path) if "chapter" in meta else chapter,
        lesson=_meta_str(meta, "lesson") or lesson,
        url=_meta_str(meta, "url") or _meta_str(meta, "permalink"),
        content_hash=content_hash,
        sections=[s for s in sections if s.text],
    )


def _section(stack: list[tuple[int, str]], anchor: str | None, lines: list[str]) -> Section:
    return Section(tuple(text for _, text in stack), anchor, "\n".join(lines).strip())


_BLOCKS = ["p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption"]
_HEADINGS = ["h1", "h2", "h3", "h4", "h5", "h6"]


def _parse_html(document_id: str, path: str, content: str, content_hash: str) -> ParsedDocument:
    chapter, lesson, fallback_title = _layout(document_id)
    soup = BeautifulSoup(content, "html.parser")
    for junk in soup(["script", "style", "nav", "noscript", "template"]):
        junk.decompose()
    meta = {
        str(tag.get("name")).lower(): str(tag.get("content") or "")
        for tag in soup.find_all("meta")
        if isinstance(tag, Tag) and tag.get("name")
    }
    first_h1 = soup.find("h1")
    title_tag = soup.find("title")
    title = (
        meta.get("title")
        or (title_tag.get_text(" ", strip=True) if title_tag else "")
        or (first_h1.get_text(" ", strip=True) if first_h1 else "")
        or fallback_title
    )
    root = soup.body or soup
    anchors = _Anchors()
    sections: list[Section] = []
    stack: list[tuple[int, str]] = [(0, title)]
    anchor: str | None = None
    texts: list[str] = []
    for element in root.find_all([*_HEADINGS, *_BLOCKS]):
        if element.find_parent([*_BLOCKS, *_HEADINGS]) is not None:
            continue  # counted with its enclosing block
        text = element.get_text("\n" if element.name == "pre" else " ", strip=True)
        if element.name in _HEADINGS:
            sections.append(Section(tuple(t for _, t in stack), anchor, "\n\n".join(texts)))
            texts = []
            level = int(element.name[1])
            explicit = element.get("id")
            if level == 1 and len(stack) == 1:
                stack = [(1, text)]
                anchor = None
            else:
                while stack and stack[-1][0] >= level:
                    stack.pop()
                stack.append((level, text))
                anchor = str(explicit) if explicit else anchors(text)
        elif text:
            texts.append(f"- {text}" if element.name == "li" else text)
    sections.append(Section(tuple(t for _, t in stack), anchor, "\n\n".join(texts)))
    return ParsedDocument(
        document_id=document_id,
        path=path,
        title=title,
        chapter=_meta_int(meta, "chapter", path) if meta.get("chapter") else chapter,
        lesson=meta.get("lesson") or lesson,
        url=meta.get("url") or None,
        content_hash=content_hash,
        sections=[s for s in sections if s.text],
    )
