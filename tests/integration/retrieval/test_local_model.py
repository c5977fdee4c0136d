"""The local ONNX model against the reference implementation (sentence-transformers)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from services.retrieval.chunking import chunk_document
from services.retrieval.documents import parse_document
from services.retrieval.embeddings import LocalEmbedder
from services.retrieval.ingest import book_files
from services.retrieval.local_model import DOCUMENT_TOKENS, max_tokens, model_file, weights_dir
from services.retrieval.settings import DEFAULT_MODEL_DIR

BOOK = Path(__file__).resolve().parents[3] / "docs" / "book"


@pytest.fixture(scope="module")
def book_texts() -> list[str]:
    """Real chunks of the demo book, as ingestion embeds them, plus reader-like queries."""
    chunks = [
        chunk.embedding_text()
        for path, content in book_files(BOOK)[:12]
        for chunk in chunk_document(parse_document(path, content))
    ]
    return [*chunks, "How do I run it on my laptop?", "rate limits", "é ü 中文 🙂"]


@pytest.fixture(scope="module")
def reference(book_texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(weights_dir()), device="cpu", local_files_only=True)
    return np.asarray(model.encode(book_texts, normalize_embeddings=True), dtype=np.float32)


def test_fp32_matches_sentence_transformers(book_texts: list[str], reference: np.ndarray) -> None:
    vectors = LocalEmbedder(precision="fp32").embed_sync(book_texts)
    cosine = (vectors * reference).sum(axis=1)
    assert vectors.shape == (len(book_texts), 384)
    assert cosine.min() > 0.9999


def test_int8_stays_close_to_the_reference(book_texts: list[str], reference: np.ndarray) -> None:
    embedder = LocalEmbedder(precision="int8")
    vectors = embedder.embed_sync(book_texts, "query")
    cosine = (vectors * reference).sum(axis=1)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert cosine.mean() > 0.98 and cosine.min() > 0.95
    # Queries and documents run on different sessions of the same model: the same vector
    # for a text shorter than the passage limit.
    short = book_texts[-3:]
    assert np.allclose(embedder.embed_sync(short, "document"), vectors[-3:], atol=1e-5)
    assert embedder.model_id != LocalEmbedder(precision="fp32").model_id


def test_passages_are_read_up_to_the_document_limit(book_texts: list[str]) -> None:
    """Documents are embedded from their first DOCUMENT_TOKENS word pieces, as
    sentence-transformers does with that max_seq_length; the limit is in the model id, so
    an index built with another limit is re-embedded."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(weights_dir()), device="cpu", local_files_only=True)
    model.max_seq_length = DOCUMENT_TOKENS
    expected = model.encode(book_texts, normalize_embeddings=True)
    embedder = LocalEmbedder(precision="fp32")
    got = embedder.embed_sync(book_texts, "document")
    assert float((got * expected).sum(axis=1).min()) > 0.9999
    full = LocalEmbedder(precision="fp32", document_tokens=max_tokens())
    assert full.model_id != embedder.model_id
    longest = max(book_texts, key=len)
    assert (
        float(np.dot(full.embed_sync([longest], "document")[0], got[book_texts.index(longest)]))
        < 0.999
    )


def test_long_text_is_truncated_like_the_reference(reference: np.ndarray) -> None:
    from sentence_transformers import SentenceTransformer

    text = "retrieval boosts the reader's chapter " * 200
    expected = SentenceTransformer(str(weights_dir()), device="cpu").encode([text])[0]
    got = LocalEmbedder(precision="fp32").embed_sync([text])[0]
    assert float(np.dot(got, expected / np.linalg.norm(expected))) > 0.9999


def test_empty_input_gives_no_rows() -> None:
    assert LocalEmbedder().embed_sync([]).shape == (0, 384)


def test_model_file_is_built_once() -> None:
    built = model_file(DEFAULT_MODEL_DIR, "int8")
    mtime = built.stat().st_mtime_ns
    assert model_file(DEFAULT_MODEL_DIR, "int8") == built
    assert built.stat().st_mtime_ns == mtime
    assert not list(DEFAULT_MODEL_DIR.glob("*.partial"))


class HeldSession:
    """An ONNX session whose first `run` reports that it started, then waits for `release`."""

    def __init__(self, session: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.session, self.loop = session, loop
        self.started = asyncio.Event()
        self.release = threading.Event()

    def run(self, *args: Any) -> Any:
        self.loop.call_soon_threadsafe(self.started.set)
        self.release.wait()
        return self.session.run(*args)


async def test_a_query_does_not_wait_behind_a_long_ingestion(book_texts: list[str]) -> None:
    embedder = LocalEmbedder(precision="int8")
    held = HeldSession(embedder._sessions["document"], asyncio.get_running_loop())
    embedder._sessions["document"] = held
    bulk = asyncio.ensure_future(embedder.embed(book_texts, "document"))
    try:
        await held.started.wait()  # the document worker is in the middle of a run
        # A query queued behind the held run would never come: fail instead of hanging.
        async with asyncio.timeout(60):
            query = await embedder.embed(["where is the stop button?"], "query")
        assert query.shape == (1, 384)
        assert not bulk.done()
    finally:
        held.release.set()
    assert (await bulk).shape == (len(book_texts), 384)
    await embedder.close()


def test_passages_embedded_in_batches_match_one_at_a_time(book_texts: list[str]) -> None:
    """Ingestion runs length-sorted, padded batches from several workers: each passage's
    vector is the one it gets alone, in the caller's order."""
    embedder = LocalEmbedder(precision="fp32")
    together = asyncio.run(embedder.embed(book_texts, "document"))
    alone = np.vstack([embedder.embed_sync([text], "document") for text in book_texts])
    assert together.shape == alone.shape
    assert float(np.abs(together - alone).max()) < 1e-5
