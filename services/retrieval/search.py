"""One search: embed the phrasings in a batch, query the index once, fuse, boost, dedup."""

from __future__ import annotations

from services.retrieval.cache import CachedEmbedder
from services.retrieval.documents import normalize_page
from services.retrieval.errors import ScopeError
from services.retrieval.index.base import ScopeFilter, VectorIndex
from services.retrieval.lexical import Bm25Encoder
from services.retrieval.ranking import rank
from services.retrieval.settings import RetrievalSettings
from shared.contracts.retrieval import SearchHit, SearchRequest, SearchResponse, Source


class Searcher:
    """Answers `SearchRequest`s from an index and an embedder."""

    def __init__(
        self,
        embedder: CachedEmbedder,
        index: VectorIndex,
        encoder: Bm25Encoder,
        settings: RetrievalSettings,
    ) -> None:
        self.embedder = embedder
        self.index = index
        self.encoder = encoder
        self.settings = settings

    def scope_filter(self, request: SearchRequest) -> ScopeFilter:
        """The strict filter of the request's scope (corpus always)."""
        context = request.page_context
        if request.scope == "current_page":
            if not context.current_page:
                raise ScopeError("scope 'current_page' needs page_context.current_page.")
            page = normalize_page(context.current_page, self.settings.url_base)
            return ScopeFilter(request.corpus, page=page)
        if request.scope == "current_chapter":
            if context.current_chapter is None:
                raise ScopeError("scope 'current_chapter' needs page_context.current_chapter.")
            return ScopeFilter(request.corpus, chapter=context.current_chapter)
        return ScopeFilter(request.corpus)

    async def search(self, request: SearchRequest) -> SearchResponse:
        scope = self.scope_filter(request)
        queries = list(dict.fromkeys(" ".join(q.split()) for q in request.queries))
        vectors = await self.embedder.embed(queries)
        sparse = [self.encoder.query(q) for q in queries] if self.settings.hybrid else []
        limit = max(self.settings.prefetch, 4 * request.top_k)
        rankings = await self.index.search(list(vectors), sparse, scope, limit)
        weights = [1.0] * len(queries) + [self.settings.lexical_weight] * sum(
            1 for s in sparse if s
        )
        boosted = request.scope == "full_book"
        context = request.page_context
        ranked = rank(
            rankings,
            weights,
            top_k=request.top_k,
            k=self.settings.rrf_k,
            reader_chapter=context.current_chapter if boosted else None,
            reader_lesson=context.current_lesson if boosted else None,
            chapter_boost=self.settings.chapter_boost,
            lesson_boost=self.settings.lesson_boost,
            fusion=self.settings.fusion,
        )
        payloads = await self.index.payloads([r.id for r in ranked])
        hits = []
        for result in ranked:
            payload = payloads.get(result.id)
            if payload is None:  # deleted between the search and the read
                continue
            hits.append(
                SearchHit(
                    chunk_id=result.id,
                    text=payload.get("text", ""),
                    score=round(result.score, 6),
                    boost=round(result.boost, 6),
                    source=Source(
                        document_id=payload.get("document_id", ""),
                        title=payload.get("title", ""),
                        chapter=payload.get("chapter"),
                        lesson=payload.get("lesson"),
                        page=payload.get("page"),
                        heading_path=list(payload.get("heading_path") or []),
                        url=payload.get("url", ""),
                    ),
                )
            )
        return SearchResponse(results=hits, scope=request.scope)
