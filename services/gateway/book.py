"""The demo book for the web client: chapters from `docs/book`, rendered to HTML here.

Heading ids follow the retrieval service's anchors (GitHub style, numbered on
repeats, every top-level heading in order), so a citation `/book/<page>#<anchor>`
lands on the passage it names.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

from shared.contracts.gateway import BookChapter, BookLesson, BookPage, BookToc

_NUMBERED = re.compile(r"^(\d+)[-_](.*)$")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.S)
_PAGE_ID = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def slugify(text: str) -> str:
    """GitHub-style heading anchor (same rule as `services.retrieval.documents.slugify`)."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    """Flat `key: value` front matter (all the book uses) and the body after it."""
    match = _FRONT_MATTER.match(text.lstrip("\ufeff"))
    if not match:
        return {}, text
    meta: dict[str, str] = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith((" ", "\t", "#")):
            meta[key.strip()] = value.strip().strip("'\"")
    return meta, text[match.end() :]


def _title_of(slug: str) -> str:
    match = _NUMBERED.match(slug)
    return (match.group(2) if match else slug).replace("-", " ").replace("_", " ").capitalize()


@dataclass
class _Rendered:
    mtime_ns: int
    lesson: BookLesson
    html: str


class Book:
    """Table of contents and rendered lessons of one book directory (cached by mtime)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
        self.cache: dict[str, _Rendered] = {}

    def _files(self) -> list[tuple[str, Path]]:
        if not self.root.is_dir():
            return []
        found = []
        for chapter in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for lesson in sorted(chapter.glob("*.md")):
                found.append((f"{chapter.name}/{lesson.stem}", lesson))
        return found

    def _render(self, page: str, path: Path) -> _Rendered:
        mtime = path.stat().st_mtime_ns
        cached = self.cache.get(page)
        if cached and cached.mtime_ns == mtime:
            return cached
        meta, body = _front_matter(path.read_text("utf-8"))
        tokens = self.md.parse(body)
        seen: dict[str, int] = {}
        first_h1 = None
        for i, token in enumerate(tokens):
            if token.type != "heading_open" or token.level != 0:
                continue
            inline = tokens[i + 1]
            text = "".join(
                c.content for c in (inline.children or []) if c.type != "softbreak"
            ).strip()
            if token.tag == "h1" and first_h1 is None:
                first_h1 = text
            slug = slugify(text) or "section"
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            token.attrSet("id", slug if count == 0 else f"{slug}-{count}")
        chapter_text = meta.get("chapter", "")
        chapter_match = _NUMBERED.match(page.split("/")[0] + "-")
        chapter = (
            int(chapter_text)
            if chapter_text.isdigit()
            else (int(chapter_match.group(1)) if chapter_match else None)
        )
        lesson_slug = meta.get("lesson") or (_NUMBERED.sub(r"\2", path.stem) or path.stem)
        lesson = BookLesson(
            page=page,
            title=meta.get("title") or first_h1 or _title_of(path.stem),
            chapter=chapter,
            lesson=lesson_slug,
        )
        html = self.md.renderer.render(tokens, self.md.options, {})
        rendered = _Rendered(mtime, lesson, html)
        self.cache[page] = rendered
        return rendered

    def toc(self) -> BookToc:
        """Chapters and lessons in order."""
        chapters: dict[str, BookChapter] = {}
        for page, path in self._files():
            folder = page.split("/")[0]
            lesson = self._render(page, path).lesson
            if folder not in chapters:
                chapters[folder] = BookChapter(
                    chapter=lesson.chapter, slug=folder, title=_title_of(folder), lessons=[]
                )
            chapters[folder].lessons.append(lesson)
        return BookToc(chapters=list(chapters.values()))

    def page(self, page: str) -> BookPage | None:
        """One lesson by document id (`NN-chapter/NN-lesson`), or None."""
        if not _PAGE_ID.match(page) or ".." in page:
            return None
        files = self._files()
        pages = [p for p, _ in files]
        if page not in pages:
            return None
        index = pages.index(page)
        rendered = self._render(page, files[index][1])
        return BookPage(
            lesson=rendered.lesson,
            html=rendered.html,
            previous=pages[index - 1] if index > 0 else None,
            next=pages[index + 1] if index + 1 < len(pages) else None,
        )
