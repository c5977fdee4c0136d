"""The book the web client shows: the retrieval service's pages of one corpus, relayed.

The retrieval service renders (and sanitises) every page when it ingests it, with the
heading ids its search hits cite, so a citation `/book/<page>#<anchor>` lands on the
passage it names. The gateway keeps no copy: it checks page ids and relays.
"""

from __future__ import annotations

import re

from services.gateway.errors import NotFound
from services.gateway.retrieval_client import RetrievalClient
from shared.contracts.gateway import BookPage, BookToc
from shared.contracts.pages import EntityList, EntityQuery

PAGE_ID = re.compile(r"^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*$")
"""What a page id (a document id of retrieval: its path in the corpus without the suffix)
may be; `..` is excluded apart. The web client checks ids with the same pattern
(`PAGE_ID` in static/book.js)."""


def is_page_id(value: str) -> bool:
    """Whether `value` may name a page: the pattern, no `..`, at most 1024 characters."""
    return len(value) <= 1024 and bool(PAGE_ID.match(value)) and ".." not in value


class Book:
    """The web client's book: the pages of `corpus` in the retrieval service."""

    def __init__(self, retrieval: RetrievalClient, corpus: str) -> None:
        self.retrieval = retrieval
        self.corpus = corpus

    async def toc(self) -> BookToc:
        """Chapters and lessons in order; `NotFound` while the corpus has no pages."""
        toc = await self.retrieval.toc(self.corpus)
        if toc is None:
            raise NotFound(f"The book {self.corpus!r} has no pages (yet).")
        return BookToc.model_validate(toc.model_dump())

    async def page(self, page: str) -> BookPage:
        """One lesson by document id; `NotFound` for an id that names none."""
        if not is_page_id(page):
            raise NotFound("No such page in the book.")
        found = await self.retrieval.page(self.corpus, page)
        if found is None or found.lesson.page != page:
            raise NotFound("No such page in the book.")
        return BookPage.model_validate(found.model_dump())

    async def entities(self, query: EntityQuery) -> EntityList:
        """Chapters and pages to @-mention, best first; `NotFound` while there are none."""
        found = await self.retrieval.entities(self.corpus, query)
        if found is None:
            raise NotFound(f"The book {self.corpus!r} has no pages (yet).")
        return found

    async def close(self) -> None:
        await self.retrieval.aclose()
