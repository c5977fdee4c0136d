"""Ingestion: parse, keep each page as the reader sees it, chunk, embed in batches, upsert
idempotently.

Chunk ids are derived from their content (see `chunking.point_id`), so re-ingesting an
unchanged file finds every id stored and writes nothing, and a changed file writes only
its new chunks, then removes the stale ones. The rendered page (`pages.PageStore`) is
stored before its chunks, so a passage a search finds always has its page to land on.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.retrieval.cache import CachedEmbedder
from services.retrieval.chunking import Chunk, chunk_document, chunk_payload, point_id
from services.retrieval.documents import ParsedDocument, parse_ingested
from services.retrieval.errors import InvalidDocument
from services.retrieval.index.base import IndexPoint, VectorIndex
from services.retrieval.lexical import Bm25Encoder
from services.retrieval.pages import PageStore
from services.retrieval.settings import RetrievalSettings
from services.retrieval.site_structure import SiteOptions, site_files
from shared.contracts.retrieval import DOCUMENT_SUFFIXES, DocumentResult, IngestDocument

logger = logging.getLogger(__name__)

Progress = Callable[[int], None]
"""Called with the number of chunks just embedded."""

OPTIMIZE_AFTER = 1_000
"""Chunks written in one call after which the embedded index builds its search index."""


@dataclass
class _Planned:
    doc: ParsedDocument
    chunks: list[Chunk]
    ids: list[str]
    payloads: list[dict[str, object]]
    new: list[int]
    stale: list[str]
    existed: bool


class Ingestor:
    """Writes documents into the index; one ingestion at a time per process."""

    def __init__(
        self,
        embedder: CachedEmbedder,
        index: VectorIndex,
        encoder: Bm25Encoder,
        settings: RetrievalSettings,
        pages: PageStore | None = None,
    ) -> None:
        """`pages`: where the rendered pages go (None: kept in memory only)."""
        self.embedder = embedder
        self.index = index
        self.encoder = encoder
        self.settings = settings
        self.pages = pages if pages is not None else PageStore(None)
        self._lock = asyncio.Lock()

    def parse(self, documents: Sequence[IngestDocument]) -> list[ParsedDocument]:
        """Parse every document first, so one bad file rejects the batch before any write."""
        parsed = [parse_ingested(doc) for doc in documents]
        seen: set[str] = set()
        for doc in parsed:
            if doc.document_id in seen:
                raise InvalidDocument(f"Document {doc.document_id!r} appears twice.")
            seen.add(doc.document_id)
        return parsed

    async def ingest(
        self,
        corpus: str,
        documents: Sequence[IngestDocument],
        *,
        progress: Progress | None = None,
    ) -> list[DocumentResult]:
        """Add or replace documents in `corpus`."""
        # Parsing a batch of HTML pages takes seconds: in a thread, so searches go on.
        parsed = await asyncio.to_thread(self.parse, documents)
        async with self._lock:
            await self.pages.put(corpus, [doc.page() for doc in parsed])
            plans = [await self._plan(corpus, doc) for doc in parsed]
            if progress:
                progress(0)
            await self._write(plans, progress)
            written = sum(len(plan.new) for plan in plans)
            if written >= OPTIMIZE_AFTER:
                await self.index.optimize()
        return [
            DocumentResult(
                document_id=plan.doc.document_id,
                status=(
                    "unchanged"
                    if not plan.new and not plan.stale
                    else "updated"
                    if plan.existed
                    else "created"
                ),
                chunks=len(plan.ids),
                written=len(plan.new),
                deleted=len(plan.stale),
            )
            for plan in plans
        ]

    async def _plan(self, corpus: str, doc: ParsedDocument) -> _Planned:
        chunks = chunk_document(
            doc, self.settings.chunk_max_chars, self.settings.chunk_overlap_chars
        )
        payloads = [chunk_payload(corpus, doc, c, self.settings.url_base) for c in chunks]
        ids = [point_id(corpus, p, self.embedder.model_id) for p in payloads]
        existing = await self.index.point_ids(corpus, doc.document_id)
        wanted = set(ids)
        return _Planned(
            doc=doc,
            chunks=chunks,
            ids=ids,
            payloads=payloads,
            new=[i for i, pid in enumerate(ids) if pid not in existing],
            stale=sorted(existing - wanted),
            existed=bool(existing),
        )

    async def _write(self, plans: list[_Planned], progress: Progress | None) -> None:
        batch = self.settings.embedding_batch_size
        work = [(plan, i) for plan in plans for i in plan.new]
        for start in range(0, len(work), batch):
            part = work[start : start + batch]
            texts = [plan.chunks[i].embedding_text() for plan, i in part]
            vectors = await self.embedder.embed(texts, "document")
            points = [
                IndexPoint(
                    id=plan.ids[i],
                    dense=vector,
                    sparse=self.encoder.document(text),
                    payload=plan.payloads[i],
                )
                for (plan, i), vector, text in zip(part, vectors, texts, strict=True)
            ]
            await self.index.upsert(points)
            if progress:
                progress(len(part))
        # Stale chunks go only after every new one is in, so a search never finds a gap.
        for plan in plans:
            await self.index.delete(plan.stale)

    async def delete(self, corpus: str, document_id: str) -> int | None:
        """Remove a document and its page; returns how many chunks it had, None when
        there was neither chunk nor page."""
        async with self._lock:
            chunks = await self.index.delete_document(corpus, document_id)
            had_page = await self.pages.delete(corpus, document_id)
            return chunks if chunks or had_page else None


def book_files(root: Path) -> list[tuple[str, str]]:
    """`(relative path, text)` of every page under `root` (README and hidden files skipped)."""
    root = Path(root)
    if root.is_file():
        return [(root.name, root.read_text(encoding="utf-8", errors="replace"))]
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if (
            not path.is_file()
            or path.suffix.lower() not in DOCUMENT_SUFFIXES
            or any(part.startswith((".", "_")) for part in rel.parts)
            or path.stem.lower() == "readme"
        ):
            continue
        files.append((rel.as_posix(), path.read_text(encoding="utf-8", errors="replace")))
    return files


async def ingest_directory(
    ingestor: Ingestor,
    root: Path,
    corpus: str,
    *,
    prune: bool = False,
    progress: Progress | None = None,
    batch_documents: int = 50,
    site: SiteOptions | None = None,
) -> list[DocumentResult]:
    """Ingest every page under `root`; with `prune`, delete stored documents no longer there.

    `site`: how the build maps to its published site (see `site_structure`); without it,
    HTML pages in unnumbered top-level folders still get chapters in navigation order."""
    files = site_files(root, book_files(root), site)
    results: list[DocumentResult] = []
    for start in range(0, len(files), batch_documents):
        part = files[start : start + batch_documents]
        results.extend(await ingestor.ingest(corpus, part, progress=progress))
    if prune:
        present = {r.document_id for r in results}
        stored = set(await ingestor.index.documents(corpus))
        stored |= await ingestor.pages.documents(corpus)
        for document_id in sorted(stored - present):
            await ingestor.delete(corpus, document_id)
    return results


async def ingest_if_empty(ingestor: Ingestor, root: Path, corpus: str) -> None:
    """Fill `corpus` from the pages under `root` unless it already has chunks and pages.
    (Chunks without pages, from an index built before pages were kept or pages kept in
    another replica's memory, are ingested again: unchanged chunks write nothing.)"""
    if not await asyncio.to_thread(root.exists):
        logger.warning("ingest_on_start: %s does not exist; nothing ingested", root)
        return
    if await ingestor.index.count(corpus) and await ingestor.pages.documents(corpus):
        logger.info("corpus %r already has chunks; start-up ingestion skipped", corpus)
        return
    results = await ingest_directory(ingestor, root, corpus)
    logger.info(
        "ingested %d pages (%d chunks) from %s into corpus %r",
        len(results),
        sum(r.chunks for r in results),
        root,
        corpus,
    )


if __name__ == "__main__":  # `python -m services.retrieval.ingest`, the documented command
    from services.retrieval.cli import main

    sys.exit(main())
