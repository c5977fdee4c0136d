"""A real retrieval service serving the demo book, for gateway tests that show the book.

It ingests `docs/book` on start into corpus `default`, as `make run` does, but embeds with
a hash of the text: the book's pages and table of contents need no meaning, so the
gateway's tests load no model.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np

from services.retrieval.app import create_app
from services.retrieval.embeddings import Purpose, Vectors, normalize
from services.retrieval.settings import RetrievalSettings
from tests.support.servers import serve

BOOK = Path(__file__).resolve().parents[3] / "docs" / "book"


class HashEmbedder:
    """A deterministic stand-in for a model: similar only for equal texts."""

    model_id = "test-hash-16"
    dimension = 16

    async def embed(self, texts: list[str], purpose: Purpose = "query") -> Vectors:
        rows = [
            np.frombuffer(hashlib.sha256(text.encode()).digest()[:16], dtype=np.uint8)
            for text in texts
        ]
        return normalize(np.array(rows, dtype=np.float32).reshape(len(texts), self.dimension) + 1)

    async def close(self) -> None:
        return None


@contextmanager
def serve_book(
    data_dir: Path, *, book: Path = BOOK, corpus: str = "default", token: str | None = None
) -> Iterator[str]:
    """A retrieval service with `book` ingested into `corpus`; yields its URL once the
    book is in."""
    settings = RetrievalSettings(
        _env_file=None,
        data_dir=data_dir,
        ingest_on_start=book,
        ingest_corpus=corpus,
        embedding_dimensions=HashEmbedder.dimension,
        log_level="warning",
        redis_url=None,
        qdrant_url=None,
        internal_token=token,
    )
    with serve(create_app(settings, embedder=HashEmbedder())) as url:
        _wait_ready(url)
        yield url


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/readyz", timeout=5).status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError("retrieval did not ingest the book in time")
        time.sleep(0.05)
