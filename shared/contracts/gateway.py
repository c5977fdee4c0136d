"""Contract of the gateway, the only public service.

`POST /assistant/chatkit` takes the simple payload below and answers with the
chat service's `text/event-stream`. `POST /chatkit` takes any ChatKit request
(`chatkit.types.ChatKitReq`). Attachments are uploaded through `/attachments`.
Readers without `metadata` support may send their context in the headers below.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.contracts.common import Id, PageContext

SIMPLE_PATH = "/assistant/chatkit"
"""The simple-payload endpoint."""

NATIVE_PATH = "/chatkit"
"""The native ChatKit protocol endpoint (what `@openai/chatkit-react` is pointed at)."""

PAGE_CONTEXT_HEADER = "x-page-context"
"""Percent-encoded JSON `PageContext`, for native clients that cannot set `metadata`."""

SELECTED_TEXT_HEADER = "x-selected-text"
"""Percent-encoded selected text, for native clients that cannot set `metadata`."""

GATEWAY_URL_HEADER = "x-gateway-url"
"""Set by the gateway on calls to the chat service: its public base URL, for upload links."""

HEARTBEAT = b": keep-alive\n\n"
"""The SSE comment sent on quiet streams; parsers skip lines starting with `:`."""


class ReaderInput(BaseModel):
    """The reader's context sent with a simple-payload question."""

    model_config = ConfigDict(extra="forbid")

    page_context: PageContext = Field(default_factory=PageContext)
    """Chapter, lesson and page the reader has open."""
    selected_text: Annotated[str, StringConstraints(max_length=1_000_000)] | None = None
    """Text the reader selected in the book; becomes the message's quoted text (length-checked)."""


class SimplePayload(BaseModel):
    """Body of `POST /assistant/chatkit`: one question, optionally in an existing thread."""

    model_config = ConfigDict(extra="forbid")

    query: Annotated[str, StringConstraints(min_length=1, max_length=1_000_000)]
    """The reader's question; the gateway's `max_query_chars` applies (413 above it)."""
    thread_id: Id | None = None
    """Thread to continue; omitted, a new thread is created."""
    context: ReaderInput = Field(default_factory=ReaderInput)
    """Where the reader is and what they selected."""


class BookLesson(BaseModel):
    """One lesson (page) of the book, as listed in the table of contents. The book is the
    retrieval corpus chat answers from (`shared.contracts.pages`, relayed as is)."""

    model_config = ConfigDict(extra="forbid")

    page: str
    """Document id: the page's path in the corpus without its suffix, such as
    `NN-chapter/NN-lesson`; the page's URL is `/book/<page>`."""
    title: str
    """Title from the front matter or `<title>` (or the first heading)."""
    chapter: int | None
    """Chapter number (front matter, else the nearest numbered folder)."""
    lesson: str
    """Lesson slug (front matter, else the file name)."""


class BookChapter(BaseModel):
    """One chapter of the book: the pages of one folder."""

    model_config = ConfigDict(extra="forbid")

    chapter: int | None
    """Chapter number."""
    slug: str
    """Folder of the chapter in the corpus, such as `NN-chapter-slug` (empty for the
    pages at its top)."""
    title: str
    """Readable title made from the folder name."""
    lessons: list[BookLesson]
    """The chapter's lessons in order."""


class BookToc(BaseModel):
    """Table of contents of the book."""

    model_config = ConfigDict(extra="forbid")

    chapters: list[BookChapter]
    """Chapters in order."""


class BookPage(BaseModel):
    """One lesson as sanitised HTML, with its neighbours for navigation."""

    model_config = ConfigDict(extra="forbid")

    lesson: BookLesson
    """Which lesson this is."""
    html: str
    """The lesson body as HTML; headings carry the anchors citations link to."""
    previous: str | None
    """Document id of the previous lesson, if any."""
    next: str | None
    """Document id of the next lesson, if any."""
