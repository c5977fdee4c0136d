"""The demo book for the web client: chapters from `docs/book`, rendered to HTML here.

Titles, chapters, lessons and heading ids follow `shared.book_format`, the rules the
retrieval service ingests pages with, so a citation `/book/<page>#<anchor>` lands on the
passage it names.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from shared.book_format import (
    FrontMatterError,
    markdown,
    numbered,
    read_markdown,
    title_from_slug,
)
from shared.contracts.gateway import BookChapter, BookLesson, BookPage, BookToc

logger = logging.getLogger(__name__)

PAGE_ID = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
"""What a page id may be (`..` excluded apart); the web client checks ids with the same
pattern (`PAGE_ID` in static/book.js)."""


@dataclass
class _Rendered:
    mtime_ns: int
    lesson: BookLesson
    html: str


class Book:
    """Table of contents and rendered lessons of one book directory (cached by mtime)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.md = markdown()
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
        text = path.read_text("utf-8")
        try:
            parsed = read_markdown(page, text, self.md)
        except FrontMatterError as exc:
            # Retrieval refuses such a page, so nothing cites it; show it all the same.
            logger.warning("book page %s: %s; its front matter is ignored", page, exc)
            parsed = read_markdown(page, text, self.md, strict=False)
        info = parsed.info
        lesson = BookLesson(page=page, title=info.title, chapter=info.chapter, lesson=info.lesson)
        html = self.md.renderer.render(parsed.tokens, self.md.options, {})
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
                    chapter=lesson.chapter,
                    slug=folder,
                    title=title_from_slug(numbered(folder)[1] or folder),
                    lessons=[],
                )
            chapters[folder].lessons.append(lesson)
        return BookToc(chapters=list(chapters.values()))

    def page(self, page: str) -> BookPage | None:
        """One lesson by document id (`NN-chapter/NN-lesson`), or None."""
        if not PAGE_ID.match(page) or ".." in page:
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
