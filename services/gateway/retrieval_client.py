"""The gateway's calls to the retrieval service: the book's table of contents, pages and
what a reader can @-mention.

The retrieval service owns the documents (it renders and sanitises each page when it is
ingested); the gateway only relays them. Failures raise `shared.http.UpstreamError`s
(the gateway's error table maps them: 503 unreachable, 502 failed or refused, 504 slow).
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from shared.contracts.pages import (
    ENTITIES_PATH,
    PAGE_PATH,
    TOC_PATH,
    EntityList,
    EntityQuery,
    PageContent,
    PageToc,
)
from shared.http import NotASegment, ServiceHttp, UpstreamUnavailable, segment

M = TypeVar("M", bound=BaseModel)

NOT_THERE = (404,)
"""What retrieval answers for a corpus without pages, or a page it does not have."""


class RetrievalClient:
    """Thin async client of the retrieval service's pages."""

    def __init__(self, client: ServiceHttp) -> None:
        self.client = client

    async def toc(self, corpus: str) -> PageToc | None:
        """The table of contents of `corpus`, or None when it has no pages."""
        path = TOC_PATH.format(corpus=segment(corpus))
        return await self._get(path, PageToc)

    async def page(self, corpus: str, document_id: str) -> PageContent | None:
        """One page of `corpus`, or None when there is no such page."""
        try:
            quoted = "/".join(segment(part) for part in document_id.split("/"))
        except NotASegment:
            return None  # an empty, `.` or `..` segment names no document
        path = PAGE_PATH.format(corpus=segment(corpus), document_id=quoted)
        return await self._get(path, PageContent)

    async def entities(self, corpus: str, query: EntityQuery) -> EntityList | None:
        """Chapters and pages of `corpus` matching `query` (None: the corpus has no pages)."""
        path = ENTITIES_PATH.format(corpus=segment(corpus))
        params: dict[str, str | int] = {"q": query.q, "limit": query.limit}
        return await self._get(path, EntityList, params)

    async def _get(
        self, path: str, model: type[M], params: dict[str, str | int] | None = None
    ) -> M | None:
        answer = await self.client.request("GET", path, params=params, expect=NOT_THERE)
        if answer.status in NOT_THERE:
            return None
        try:
            return model.model_validate_json(answer.content)
        except ValidationError as exc:
            raise UpstreamUnavailable("retrieval", f"malformed {model.__name__}: {exc}") from None

    async def aclose(self) -> None:
        await self.client.aclose()
