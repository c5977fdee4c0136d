"""`RetrievalClient`: the chat service's view of the retrieval service's search API."""

from __future__ import annotations

from pydantic import ValidationError

from shared.contracts.pages import (
    ENTITIES_PATH,
    TOC_PATH,
    BookEntity,
    EntityList,
    PageChapter,
    PageToc,
)
from shared.contracts.retrieval import SearchRequest, SearchResponse
from shared.http import ServiceHttp, UpstreamUnavailable, segment


class RetrievalClient:
    """Searches the book through the retrieval service."""

    def __init__(self, client: ServiceHttp) -> None:
        """`client` is a shared `ServiceHttp` for the retrieval service."""
        self.client = client

    @classmethod
    def connect(
        cls, base_url: str, *, token: str | None = None, timeout: float = 10.0
    ) -> RetrievalClient:
        """A client with its own `shared.http.ServiceHttp` (close it with `aclose`)."""
        return cls(ServiceHttp(base_url, service="retrieval", token=token, timeout_s=timeout))

    async def search(self, request: SearchRequest) -> SearchResponse:
        """Run one search. Raises `shared.http.UpstreamUnavailable` (worth a retry) or
        `UpstreamRefused`."""
        response = await self.client.request(
            "POST", "/v1/search", body=request.model_dump_json().encode()
        )
        try:
            return SearchResponse.model_validate_json(response.content)
        except ValidationError as exc:
            raise UpstreamUnavailable(
                "retrieval", f"retrieval service sent a malformed answer: {exc}"
            ) from exc

    async def entity(self, corpus: str, entity_id: str) -> BookEntity | None:
        """The chapter or page `entity_id` of `corpus` (a mention's tag id), or None when
        the corpus has no such entry (or no pages)."""
        response = await self.client.request(
            "GET",
            ENTITIES_PATH.format(corpus=segment(corpus)),
            params={"id": entity_id},
            expect=(404,),
        )
        if response.status == 404:
            return None
        try:
            found = EntityList.model_validate_json(response.content).entities
        except ValidationError as exc:
            raise UpstreamUnavailable(
                "retrieval", f"retrieval service sent a malformed answer: {exc}"
            ) from exc
        return found[0] if found else None

    async def chapters(self, corpus: str) -> list[PageChapter]:
        """The chapters of `corpus` in order, from its table of contents ([]: no pages)."""
        response = await self.client.request(
            "GET", TOC_PATH.format(corpus=segment(corpus)), expect=(404,)
        )
        if response.status == 404:
            return []
        try:
            return PageToc.model_validate_json(response.content).chapters
        except ValidationError as exc:
            raise UpstreamUnavailable(
                "retrieval", f"retrieval service sent a malformed answer: {exc}"
            ) from exc

    async def aclose(self) -> None:
        await self.client.aclose()
