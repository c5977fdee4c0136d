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
from services.retrieval.site_structure import SiteError, SiteOptions, site_files
from shared.contracts.retrieval import (
    DocumentResult,
    IngestRequest,
    IngestResponse,
)
from shared.http import ServiceHttp, UpstreamError

REMOTE_BATCH = 20
"""Files per request to a running service."""


async def _run_local(args: argparse.Namespace, settings: RetrievalSettings) -> int:
    async with open_resources(settings) as resources:
        files = site_files(args.path, book_files(args.path), args.site)
        with tqdm(desc="embedding chunks", unit="chunk", disable=args.quiet) as bar:

            def step(n: int) -> None:
                if n == 0:  # a new batch of documents has been planned
                    return
                bar.update(n)

            results = await ingest_directory(
                resources["ingestor"],
                args.path,
                args.corpus,
                prune=args.prune,
                progress=step,
                site=args.site,
            )
        _summarize(results, len(files))
    return 0


async def _run_remote(args: argparse.Namespace, settings: RetrievalSettings) -> int:
    files = site_files(args.path, book_files(args.path), args.site)
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
                    documents=part,
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
    site = parser.add_argument_group(
        "documentation site", "ingest a published build (Sphinx, MkDocs, Docusaurus, HTML)"
    )
    site.add_argument(
        "--site-url",
        help="the published site's base URL (https://docs.example.com/): hits link to "
        "its pages and anchors instead of the reader's /book/...",
    )
    site.add_argument(
        "--sitemap",
        type=Path,
        help="a sitemap.xml on disk: ingest the pages it lists, linked to its URLs",
    )
    site.add_argument(
        "--chapters",
        help="top-level folders in chapter order, comma-separated (default: the order "
        "of the home page's navigation, then by name)",
    )
    site.add_argument(
        "--site-config",
        type=Path,
        help="a YAML file of the corpus's site: url, sitemap, chapters (flags win)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not args.path.exists():
        parser.error(f"{args.path} does not exist")
    chapters = tuple(c.strip() for c in (args.chapters or "").split(",") if c.strip())
    try:
        if args.site_config is not None:
            args.site = SiteOptions.from_file(
                args.site_config, url=args.site_url, sitemap=args.sitemap, chapters=chapters
            )
        else:
            args.site = SiteOptions(url=args.site_url, sitemap=args.sitemap, chapters=chapters)
    except SiteError as exc:
        parser.error(str(exc))
    if args.site.sitemap is not None and not args.site.sitemap.is_file():
        parser.error(f"{args.site.sitemap} does not exist")
    logging.basicConfig(level=logging.WARNING)
    settings = RetrievalSettings()
    runner = _run_remote if args.service_url else _run_local
    try:
        return asyncio.run(runner(args, settings))
    except (DocumentError, SiteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
