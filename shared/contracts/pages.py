"""Contract of the retrieval service's pages: the reader's table of contents and pages.

The retrieval service keeps, per corpus, each ingested document as the reader shows it
(sanitised HTML whose heading ids are the anchors its search hits link to), and serves
them at `GET /v1/corpora/{corpus}/toc` and `GET /v1/corpora/{corpus}/pages/{document_id}`.
The gateway relays them to the web client as `shared.contracts.gateway.BookToc` and
`BookPage`, which have the same shape.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

TOC_PATH = "/v1/corpora/{corpus}/toc"
"""The table of contents of one corpus."""
PAGE_PATH = "/v1/corpora/{corpus}/pages/{document_id}"
"""One page of one corpus; `document_id` may hold `/` (one quoted segment per part)."""


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageEntry(_Contract):
    """One page as listed in the table of contents."""

    page: str
    """Document id: the page's path in the corpus, '/'-separated, without its suffix."""
    title: str
    """Title from the front matter or `<title>` (else the first heading, else the name)."""
    chapter: int | None
    """Chapter number (front matter, else the nearest numbered folder)."""
    lesson: str
    """Lesson slug (front matter, else the file name without its number)."""


class PageChapter(_Contract):
    """The pages of one folder, in order."""

    chapter: int | None
    """Chapter number of its first page."""
    slug: str
    """The folder's path in the corpus (empty for pages at its top)."""
    title: str
    """Readable title: its `index` page's, else made from the folder name."""
    lessons: list[PageEntry]
    """Its pages in order."""


class PageToc(_Contract):
    """Table of contents of one corpus."""

    chapters: list[PageChapter]
    """Folders in order, each with its pages."""


class PageContent(_Contract):
    """One page as HTML, with its neighbours for navigation."""

    lesson: PageEntry
    """Which page this is."""
    html: str
    """The page body as sanitised HTML (no script, style, event handlers or `javascript:`
    links); headings carry the anchors search hits link to."""
    previous: str | None
    """Document id of the previous page, if any."""
    next: str | None
    """Document id of the next page, if any."""


ENTITIES_PATH = "/v1/corpora/{corpus}/entities"
"""Chapters and pages of one corpus matching a text: what a reader can @-mention."""
MAX_ENTITY_QUERY = 200
MAX_ENTITIES = 50
MAX_ENTITY_ID = 1100
"""`page:` or `chapter:` and a document id or folder."""


class EntityQuery(_Contract):
    """`?q=...&limit=...` of an entity search."""

    q: str = Field(default="", max_length=MAX_ENTITY_QUERY)
    """What the reader typed after `@` (empty: the first entries in book order)."""
    limit: int = Field(default=10, ge=1, le=MAX_ENTITIES)
    id: str | None = Field(default=None, min_length=1, max_length=MAX_ENTITY_ID)
    """Look up this one entity instead (`q` is then ignored): the list is empty if it is
    not in the corpus."""


class BookEntity(_Contract):
    """A chapter or page the reader can mention; shaped for ChatKit's `Entity`."""

    id: str
    """`page:<document_id>` or `chapter:<folder>`; sent back as the tag's id."""
    title: str
    group: str
    """`Chapters` or `Pages`: how the composer groups the suggestions."""
    chapter: int | None
    page: str | None
    """The page's document id (None for a chapter)."""
    folder: str
    """The chapter's folder (a page's own folder)."""


class EntityList(_Contract):
    """Matches of an entity search, best first."""

    entities: list[BookEntity]
