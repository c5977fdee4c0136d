"""Ingestion: parse, chunk, embed in batches, upsert idempotently; and its command line.

    python -m services.retrieval.ingest docs/book --corpus default

Chunk ids are derived from their content (see `chunking.point_id`), so re-ingesting an
unchanged file finds every id stored and writes nothing, and a changed file writes only
its new chunks, then removes the stale ones.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.retrieval.cache import CachedEmbedder
from services.retrieval.chunking import Chunk, chunk_document, chunk_payload, point_id
from services.retrieval.documents import DocumentError, ParsedDocument, parse_document
from services.retrieval.index.base import IndexPoint, VectorIndex
from services.retrieval.lexical import Bm25Encoder
from services.retrieval.settings import RetrievalSettings
from shared.contracts.retrieval import DOCUMENT_SUFFIXES, DocumentResult

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
    ) -> None:
        self.embedder = embedder
        self.index = index
        self.encoder = encoder
        self.settings = settings
        self._lock = asyncio.Lock()

    def parse(self, documents: Sequence[tuple[str, str]]) -> list[ParsedDocument]:
        """Parse every document first, so one bad file rejects the batch before any write."""
        parsed = [parse_document(path, content) for path, content in documents]
        seen: set[str] = set()
        for doc in parsed:
            if doc.document_id in seen:
                raise DocumentError(422, f"Document {doc.document_id!r} appears twice.")
            seen.add(doc.document_id)
        return parsed

    async def ingest(
        self,
        corpus: str,
        documents: Sequence[tuple[str, str]],
        *,
        progress: Progress | None = None,
    ) -> list[DocumentResult]:
        """Add or replace `(path, content)` documents in `corpus`."""
        parsed = self.parse(documents)
        async with self._lock:
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

    async def delete(self, corpus: str, document_id: str) -> int:
        """Remove a document; returns how many chunks it had."""
        async with self._lock:
            return await self.index.delete_document(corpus, document_id)


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
) -> list[DocumentResult]:
    """Ingest every page under `root`; with `prune`, delete stored documents no longer there."""
    files = book_files(root)
    results: list[DocumentResult] = []
    for start in range(0, len(files), batch_documents):
        part = files[start : start + batch_documents]
        results.extend(await ingestor.ingest(corpus, part, progress=progress))
    if prune:
        present = {r.document_id for r in results}
        for document_id in await ingestor.index.documents(corpus):
            if document_id not in present:
                await ingestor.delete(corpus, document_id)
    return results


async def _run_local(args: argparse.Namespace, settings: RetrievalSettings) -> int:
    from tqdm import tqdm

    from services.retrieval.app import open_resources

    async with open_resources(settings) as resources:
        files = book_files(args.path)
        with tqdm(desc="embedding chunks", unit="chunk", disable=args.quiet) as bar:

            def step(n: int) -> None:
                if n == 0:  # a new batch of documents has been planned
                    return
                bar.update(n)

            results = await ingest_directory(
                resources.ingestor, args.path, args.corpus, prune=args.prune, progress=step
            )
        _summarize(results, len(files))
    return 0


async def _run_remote(args: argparse.Namespace, settings: RetrievalSettings) -> int:
    from tqdm import tqdm

    from shared.contracts.retrieval import IngestDocument, IngestRequest, IngestResponse
    from shared.http import service_client

    files = book_files(args.path)
    results: list[DocumentResult] = []
    async with service_client(args.service_url, token=settings.token, timeout=600) as client:
        with tqdm(total=len(files), desc="ingesting", unit="file", disable=args.quiet) as bar:
            for start in range(0, len(files), 20):
                part = files[start : start + 20]
                request = IngestRequest(
                    corpus=args.corpus,
                    documents=[IngestDocument(path=p, content=c) for p, c in part],
                )
                response = await client.post(
                    "/v1/documents",
                    content=request.model_dump_json(),
                    headers={"content-type": "application/json"},
                )
                if response.status_code != 200:
                    print(f"error: HTTP {response.status_code}: {response.text}", file=sys.stderr)
                    return 1
                results.extend(IngestResponse.model_validate_json(response.content).documents)
                bar.update(len(part))
    _summarize(results, len(files))
    return 0


def _summarize(results: list[DocumentResult], files: int) -> None:
    counts = {
        status: sum(r.status == status for r in results)
        for status in ("created", "updated", "unchanged")
    }
    chunks = sum(r.written for r in results)
    print(
        f"{files} files: {counts['created']} created, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged; {chunks} chunks written, "
        f"{sum(r.deleted for r in results)} removed"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m services.retrieval.ingest PATH --corpus NAME`."""
    parser = argparse.ArgumentParser(
        prog="python -m services.retrieval.ingest",
        description="Ingest Markdown/HTML pages into the retrieval index.",
    )
    parser.add_argument("path", type=Path, help="a page or a directory of pages (the book)")
    parser.add_argument("--corpus", default="default", help="book (tenant) to write to")
    parser.add_argument(
        "--prune", action="store_true", help="delete stored documents that are no longer under PATH"
    )
    parser.add_argument(
        "--service-url",
        help="send the pages to a running retrieval service instead of "
        "writing the index directly (needed while the embedded index "
        "is open in the service)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not args.path.exists():
        parser.error(f"{args.path} does not exist")
    logging.basicConfig(level=logging.WARNING)
    settings = RetrievalSettings()
    runner = _run_remote if args.service_url else _run_local
    try:
        return asyncio.run(runner(args, settings))
    except DocumentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
