"""Pages as the reader shows them, kept per corpus beside the chunks made of them.

Ingestion renders each document once (`documents.parse_document`: Markdown to HTML, or
the HTML's own structure), with heading ids that are the anchors its chunks link to, and
sanitises it here: no script, style, event handler or `javascript:` link of an ingested
file ever reaches a reader. `PageStore` keeps those pages in memory and, when given a
directory (`<data_dir>/pages`), on disk, one JSON file per document; the table of
contents and each page are served from it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

import nh3

from shared.book_format import INDEX_PAGE, numbered, title_from_slug
from shared.contracts.pages import PageChapter, PageContent, PageEntry, PageToc

logger = logging.getLogger(__name__)

_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {*nh3.ALLOWED_ATTRIBUTES.get("*", set()), "id"},
    "code": {*nh3.ALLOWED_ATTRIBUTES.get("code", set()), "class"},
}
"""Ammonia's safe attributes, plus heading ids (citation anchors) and code languages."""
_URL_SCHEMES = {"http", "https", "mailto"}
"""Link schemes kept (relative links too); `javascript:`, `data:` and the rest are dropped."""


def sanitize_html(html: str) -> str:
    """`html` with only safe markup left: Ammonia's allow-list (through nh3), which drops
    script and style with their content, every event handler and style attribute, and
    links of any scheme but http(s) and mailto."""
    return nh3.clean(html, attributes=_ATTRIBUTES, url_schemes=_URL_SCHEMES)


@dataclass(frozen=True)
class StoredPage:
    """One document as the reader shows it."""

    document_id: str
    path: str
    """The file it was ingested from, relative to the corpus."""
    title: str
    chapter: int | None
    lesson: str
    html: str
    """Sanitised body."""

    def entry(self) -> PageEntry:
        return PageEntry(
            page=self.document_id, title=self.title, chapter=self.chapter, lesson=self.lesson
        )


def _order(document_id: str) -> tuple[tuple[str, ...], str]:
    """Pages sort by folder, then by name: a folder's pages stay together."""
    path = PurePosixPath(document_id)
    return path.parent.parts if str(path.parent) != "." else (), path.name


def _folder(document_id: str) -> str:
    parent = str(PurePosixPath(document_id).parent)
    return "" if parent == "." else parent


def table_of_contents(pages: Iterable[StoredPage]) -> PageToc:
    """Pages grouped by folder, folders and pages in order. A folder is titled as its
    `index` page is (what the site calls that section), else after its name."""
    chapters: dict[str, PageChapter] = {}
    for page in sorted(pages, key=lambda p: _order(p.document_id)):
        folder = _folder(page.document_id)
        if folder not in chapters:
            name = folder.rsplit("/", 1)[-1]
            chapters[folder] = PageChapter(
                chapter=page.chapter,
                slug=folder,
                title=title_from_slug(numbered(name)[1] or name) if name else "",
                lessons=[],
            )
        if folder and PurePosixPath(page.document_id).name == INDEX_PAGE and page.title:
            chapters[folder].title = page.title
        chapters[folder].lessons.append(page.entry())
    return PageToc(chapters=list(chapters.values()))


@dataclass
class _Corpus:
    pages: dict[str, StoredPage]
    stamp: int | None
    """`mtime_ns` of its directory when read (None: not on disk)."""


class PageStore:
    """The pages of every corpus; on disk under `root` when given, else in memory only.

    Files are replaced atomically, and a directory changed by another process (the
    ingest command) is read again, so a service sees what the command ingested.
    """

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._corpora: dict[str, _Corpus] = {}
        self._lock = asyncio.Lock()

    def _dir(self, corpus: str) -> Path | None:
        if self.root is None:
            return None
        return self.root / hashlib.sha256(corpus.encode()).hexdigest()[:32]

    @staticmethod
    def _file(folder: Path, document_id: str) -> Path:
        return folder / (hashlib.sha256(document_id.encode()).hexdigest()[:40] + ".json")

    async def _load(self, corpus: str) -> _Corpus:
        folder = self._dir(corpus)
        cached = self._corpora.get(corpus)
        if folder is None:
            return self._corpora.setdefault(corpus, _Corpus({}, None))
        stamp = await asyncio.to_thread(_stamp, folder)
        if cached is not None and cached.stamp == stamp:
            return cached
        pages = await asyncio.to_thread(_read_all, folder) if stamp is not None else {}
        loaded = _Corpus(pages, stamp)
        self._corpora[corpus] = loaded
        return loaded

    async def put(self, corpus: str, pages: list[StoredPage]) -> None:
        """Add or replace `pages` in `corpus`."""
        async with self._lock:
            current = await self._load(corpus)
            folder = self._dir(corpus)
            if folder is not None:
                try:
                    await asyncio.to_thread(_write_all, folder, pages)
                except OSError as exc:  # a read-only data dir: the pages live in memory
                    logger.warning("pages of corpus %r not written to %s: %s", corpus, folder, exc)
                current.stamp = await asyncio.to_thread(_stamp, folder)
            for page in pages:
                current.pages[page.document_id] = page

    async def delete(self, corpus: str, document_id: str) -> bool:
        """Remove one page; whether it was there."""
        async with self._lock:
            current = await self._load(corpus)
            folder = self._dir(corpus)
            if folder is not None:
                with_file = self._file(folder, document_id)
                await asyncio.to_thread(with_file.unlink, missing_ok=True)
                current.stamp = await asyncio.to_thread(_stamp, folder)
            return current.pages.pop(document_id, None) is not None

    async def documents(self, corpus: str) -> set[str]:
        """Ids of the pages stored for `corpus`."""
        return set((await self._load(corpus)).pages)

    async def toc(self, corpus: str) -> PageToc | None:
        """The table of contents, or None for a corpus without pages."""
        pages = (await self._load(corpus)).pages
        return table_of_contents(pages.values()) if pages else None

    async def page(self, corpus: str, document_id: str) -> PageContent | None:
        """One page with its neighbours in table-of-contents order, or None."""
        pages = (await self._load(corpus)).pages
        page = pages.get(document_id)
        if page is None:
            return None
        order = sorted(pages, key=_order)
        at = order.index(document_id)
        return PageContent(
            lesson=page.entry(),
            html=page.html,
            previous=order[at - 1] if at > 0 else None,
            next=order[at + 1] if at + 1 < len(order) else None,
        )


def _stamp(folder: Path) -> int | None:
    try:
        return folder.stat().st_mtime_ns
    except OSError:  # not there (yet), or not a directory
        return None


def _read_all(folder: Path) -> dict[str, StoredPage]:
    pages: dict[str, StoredPage] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            page = StoredPage(**json.loads(path.read_text("utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            logger.warning("unreadable stored page %s skipped: %s", path, exc)
            continue
        pages[page.document_id] = page
    return pages


def _write_all(folder: Path, pages: list[StoredPage]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for page in pages:
        target = PageStore._file(folder, page.document_id)
        fd, temp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(asdict(page), out, ensure_ascii=False)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
