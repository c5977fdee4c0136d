"""The ingestion command line (`ingest.py` runs it when run as a module):

    python -m services.retrieval.ingest docs/book --corpus default

It writes the index directly, or with `--service-url` sends the pages to a running service.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from services.retrieval.errors import DocumentError
from services.retrieval.ingest import book_files, ingest_directory
from services.retrieval.resources import open_resources
from services.retrieval.settings import RetrievalSettings
from shared.contracts.retrieval import (
    DocumentResult,
    IngestDocument,
    IngestRequest,
    IngestResponse,
)
from shared.http import ServiceHttp, UpstreamError

REMOTE_BATCH = 20
"""Files per request to a running service."""


async def _run_local(args: argparse.Namespace, settings: RetrievalSettings) -> int:
    async with open_resources(settings) as resources:
        files = book_files(args.path)
        with tqdm(desc="embedding chunks", unit="chunk", disable=args.quiet) as bar:

            def step(n: int) -> None:
                if n == 0:  # a new batch of documents has been planned
                    return
                bar.update(n)

            results = await ingest_directory(
                resources["ingestor"], args.path, args.corpus, prune=args.prune, progress=step
            )
        _summarize(results, len(files))
    return 0


async def _run_remote(args: argparse.Namespace, settings: RetrievalSettings) -> int:
    files = book_files(args.path)
    results: list[DocumentResult] = []
    service = ServiceHttp(
        args.service_url, service="retrieval", token=settings.token, timeout_s=600
    )
    async with service:
        with tqdm(total=len(files), desc="ingesting", unit="file", disable=args.quiet) as bar:
            for start in range(0, len(files), REMOTE_BATCH):
                part = files[start : start + REMOTE_BATCH]
                request = IngestRequest(
                    corpus=args.corpus,
                    documents=[IngestDocument(path=p, content=c) for p, c in part],
                )
                try:
                    response = await service.request(
                        "POST", "/v1/documents", body=request.model_dump_json().encode()
                    )
                except UpstreamError as exc:
                    print(f"error: {exc}", file=sys.stderr)
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
