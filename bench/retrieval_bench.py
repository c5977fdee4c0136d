"""Retrieval benchmark: search latency at 20,000 chunks through the HTTP API with and
without the query's embedding cached, the embedding cache hit path, ingest throughput with
the local model, and the cache hit rate.

    python -m bench.retrieval_bench

The 20,000-chunk index holds the demo book's real chunks plus synthetic ones (vectors
perturbed from real ones, text reshuffled from real sentences), since embedding 20,000
chunks on two cores takes minutes; search cost depends on the count, not on the meaning.
Baselines measured in the same run: the same search through qdrant-client's local mode
(in-process, no HTTP), the uncached search (every query new: the local model embeds it)
against the cached one, the Redis hit path against the in-process LRU, and the provider.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

import httpx
import numpy as np
import redis

from bench.config import scaled
from bench.stats import Row, latency_rows
from services.retrieval.cache import CachedEmbedder, RedisVectors
from services.retrieval.chunking import chunk_document, chunk_payload, point_id
from services.retrieval.documents import parse_document
from services.retrieval.embeddings import LocalEmbedder
from services.retrieval.index.base import IndexPoint, ScopeFilter
from services.retrieval.index.edge import EdgeIndex
from services.retrieval.ingest import Ingestor, book_files
from services.retrieval.lexical import Bm25Encoder
from services.retrieval.settings import RetrievalSettings
from shared.contracts.retrieval import IngestDocument
from tests.support.processes import running

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "docs" / "book"
CORPUS = "bench"
N_POINTS = scaled(20_000, 2_000)
N_SEARCH = scaled(400, 40)
N_UNCACHED = scaled(200, 20)
N_DIRECT = scaled(500, 50)
INGEST_ROUNDS = scaled(3, 1)
BOOK_PAGES = scaled(10_000, 4)  # pages of the book embedded (all but in quick runs)
QUERY = "how much does the current chapter boost a passage?"


def _synthetic_points(embedder: LocalEmbedder, encoder: Bm25Encoder) -> list[IndexPoint]:
    """The book's real chunks, then synthetic ones up to N_POINTS, spread over 40 chapters."""
    rng = np.random.default_rng(7)
    shuffle = random.Random(7)
    real = []
    for path, text in book_files(BOOK)[:BOOK_PAGES]:
        doc = parse_document(path, text)
        for chunk in chunk_document(doc):
            real.append((doc, chunk))
    texts = [chunk.embedding_text() for _, chunk in real]
    vectors = embedder.embed_sync(texts, "document")
    sentences = [s for t in texts for s in re.split(r"(?<=[.!?])\s+", t) if len(s) > 30]
    points = []
    for (doc, chunk), vector, text in zip(real, vectors, texts, strict=True):
        payload = chunk_payload(CORPUS, doc, chunk, "/book")
        points.append(
            IndexPoint(point_id(CORPUS, payload, "bench"), vector, encoder.document(text), payload)
        )
    for i in range(N_POINTS - len(points)):
        base = vectors[i % len(vectors)]
        vector = base + rng.normal(scale=0.06, size=base.shape).astype(np.float32)
        vector /= np.linalg.norm(vector)
        text = " ".join(shuffle.sample(sentences, 4))
        chapter = 1 + i % 40
        document_id = f"{chapter:02d}-synthetic/{i // 8:05d}-page"
        payload = {
            "corpus": CORPUS,
            "document_id": document_id,
            "page": document_id,
            "chapter": chapter,
            "lesson": f"lesson-{i // 8 % 6}",
            "title": f"Synthetic {i}",
            "path": document_id + ".md",
            "heading_path": [f"Synthetic {i}", "Section"],
            "url": f"/book/{document_id}#section",
            "chunk_index": i % 8,
            "text": text,
            "text_hash": uuid.uuid4().hex,
        }
        points.append(
            IndexPoint(
                str(uuid.uuid4()), vector.astype(np.float32), encoder.document(text), payload
            )
        )
    return points


async def _build_edge(path: Path, points: list[IndexPoint]) -> float:
    index = EdgeIndex(path, 384)
    await index.open()
    started = time.perf_counter()
    await index.upsert(points)
    await index.optimize()
    elapsed = time.perf_counter() - started
    await index.close()
    return elapsed


async def _local_mode_baseline(points: list[IndexPoint], query: np.ndarray, n: int) -> list[float]:
    """The same boosted search's index calls through qdrant-client's local mode."""
    from qdrant_client import AsyncQdrantClient

    from services.retrieval.index.server import ServerIndex

    index = ServerIndex(AsyncQdrantClient(location=":memory:"), "bench", 384)
    await index.open()
    await index.upsert(points)
    sparse = Bm25Encoder().query(QUERY)
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await index.search([query], [sparse], ScopeFilter(CORPUS), 50)
        samples.append((time.perf_counter() - started) * 1000)
    await index.close()
    return samples


async def _edge_direct(path: Path, query: np.ndarray, n: int) -> list[float]:
    index = EdgeIndex(path, 384)
    await index.open()
    sparse = Bm25Encoder().query(QUERY)
    for _ in range(20):
        await index.search([query], [sparse], ScopeFilter(CORPUS), 50)
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await index.search([query], [sparse], ScopeFilter(CORPUS), 50)
        samples.append((time.perf_counter() - started) * 1000)
    await index.close()
    return samples


def _http_latency(
    url: str, body: dict[str, Any] | Callable[[int], dict[str, Any]], n: int
) -> list[float]:
    """Latencies (ms) of `n` searches; `body` may be a function of the call's number."""
    make = body if callable(body) else lambda _: body
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(30):
            client.post("/v1/search", json=make(-1 - i)).raise_for_status()
        samples = []
        for i in range(n):
            payload = make(i)
            started = time.perf_counter()
            response = client.post("/v1/search", json=payload)
            samples.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
    return samples


def _cache_counts(url: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("retrieval_embedding_cache_lookups_total{"):
            labels, value = line.rsplit(" ", 1)
            counts[labels] = float(value)
    return counts


async def _cache_paths(
    embedder: LocalEmbedder, redis_url: str, prefix: str
) -> dict[str, list[float]]:
    queries = [f"{QUERY} variant {i}" for i in range(8)]
    out: dict[str, list[float]] = {"lru": [], "redis": [], "provider": []}
    lru = CachedEmbedder(embedder, lru_size=1000)
    store = RedisVectors(redis_url, ttl_s=600, timeout_s=0.2)
    via_redis = CachedEmbedder(embedder, redis=store, prefix=prefix, lru_size=0)
    await lru.embed(queries)
    await via_redis.embed(queries)
    for _ in range(N_DIRECT):
        started = time.perf_counter()
        await lru.embed(queries)
        out["lru"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        await via_redis.embed(queries)
        out["redis"].append((time.perf_counter() - started) * 1000)
    for _ in range(10):
        started = time.perf_counter()
        await embedder.embed(queries)
        out["provider"].append((time.perf_counter() - started) * 1000)
    await via_redis.close()
    return out


async def _ingest_rate(embedder: LocalEmbedder, data_dir: Path) -> tuple[int, float]:
    """Chunks/s ingesting the demo book into a fresh index, no cache, local model."""
    settings = RetrievalSettings(data_dir=data_dir, redis_url=None)
    index = EdgeIndex(data_dir / "ingest", 384)
    await index.open()
    ingestor = Ingestor(CachedEmbedder(embedder, lru_size=0), index, Bm25Encoder(), settings)
    started = time.perf_counter()
    pages = [IngestDocument(path=p, content=c) for p, c in book_files(BOOK)[:BOOK_PAGES]]
    results = await ingestor.ingest("ingest", pages)
    elapsed = time.perf_counter() - started
    await index.close()
    return sum(r.written for r in results), elapsed


def measure() -> dict[str, Any]:
    """Run every measurement; numbers in ms unless named otherwise."""
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"bench:retrieval:{uuid.uuid4().hex[:8]}:"
    embedder = LocalEmbedder()
    encoder = Bm25Encoder()
    numbers: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="retrieval-bench-") as tmp:
        data = Path(tmp)
        points = _synthetic_points(embedder, encoder)
        numbers["points"] = len(points)
        numbers["edge_build_s"] = asyncio.run(_build_edge(data / "edge" / "book_chunks", points))
        query = embedder.embed_sync([QUERY])[0]
        numbers["edge_direct"] = asyncio.run(
            _edge_direct(data / "edge" / "book_chunks", query, N_DIRECT)
        )
        numbers["local_mode_direct"] = asyncio.run(
            _local_mode_baseline(points, query, scaled(15, 3))
        )

        env = {
            "RETRIEVAL_DATA_DIR": str(data),
            "RETRIEVAL_REDIS_URL": redis_url,
            "RETRIEVAL_CACHE_PREFIX": prefix,
            "RETRIEVAL_LOG_LEVEL": "warning",
            "HF_HUB_OFFLINE": "1",
        }
        with running("retrieval", env) as service:
            boosted = {
                "queries": [QUERY],
                "corpus": CORPUS,
                "top_k": 5,
                "page_context": {
                    "current_chapter": 2,
                    "current_lesson": "search-scopes-and-boosting",
                },
            }
            chapter = {**boosted, "scope": "current_chapter"}
            three = {
                **boosted,
                "queries": [QUERY, "chapter boost factor", "boosting near the reader"],
            }
            numbers["http_boosted"] = _http_latency(service.url, boosted, N_SEARCH)
            numbers["http_chapter"] = _http_latency(service.url, chapter, N_SEARCH)
            numbers["http_boosted_3q"] = _http_latency(service.url, three, N_SEARCH)
            # Counted before the uncached searches, which are misses by design.
            counts = _cache_counts(service.url)
            run = uuid.uuid4().hex[:8]
            numbers["http_uncached"] = _http_latency(
                service.url,
                lambda i: {**boosted, "queries": [f"{QUERY} ({run} {i})"]},
                N_UNCACHED,
            )
            hits = sum(v for k, v in counts.items() if 'result="hit"' in k and "memory" in k)
            total = sum(v for k, v in counts.items() if "memory" in k)
            numbers["query_cache_hit_rate"] = hits / total if total else 0.0
        numbers.update(asyncio.run(_cache_paths(embedder, redis_url, prefix)))
        # Both precisions of the local model, interleaved so machine noise hits both alike.
        quantized = LocalEmbedder(precision="int8")
        for round_ in range(INGEST_ROUNDS):
            for name, model in (("fp32", embedder), ("int8", quantized)):
                chunks, seconds = asyncio.run(_ingest_rate(model, data / f"ingest-{round_}-{name}"))
                numbers.setdefault(f"ingest_rate_{name}", []).append(chunks / seconds)
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
    return numbers


def main() -> list[Row]:
    """Measure and return the rows of the `make bench` table."""
    n = measure()
    int8, fp32 = median(n["ingest_rate_int8"]), median(n["ingest_rate_fp32"])
    rows = [
        *latency_rows(
            "retrieval",
            "HTTP boosted full_book search, 1 query (cached)",
            n["http_boosted"],
            None,
            "p50<=5 p99<=20",
        ),
        *latency_rows(
            "retrieval",
            "HTTP current_chapter search, 1 query (cached)",
            n["http_chapter"],
            None,
            "p50<=5 p99<=20",
        ),
        *latency_rows(
            "retrieval",
            "HTTP boosted search, uncached embedding (vs cached)",
            n["http_uncached"],
            n["http_boosted"],
        ),
        *latency_rows(
            "retrieval", "HTTP boosted search, 3 phrasings (cached)", n["http_boosted_3q"], None
        ),
        *latency_rows(
            "retrieval",
            "index calls: edge (baseline: client local mode)",
            n["edge_direct"],
            n["local_mode_direct"],
        ),
        *latency_rows(
            "retrieval",
            "8 query embeddings: LRU hit (baseline: provider)",
            n["lru"],
            n["provider"],
            "p50<=1",
        ),
        *latency_rows(
            "retrieval",
            "8 query embeddings: Redis hit (baseline: LRU)",
            n["redis"],
            n["lru"],
            "p50<=1",
        ),
        Row(
            "retrieval",
            "ingest, local model fp32, the default (baseline: int8), demo book",
            fp32,
            "chunks/s",
            int8,
            ">=100",
        ),
        Row("retrieval", "query embedding cache hit rate", 100 * n["query_cache_hit_rate"], "%"),
        Row("retrieval", "index points", float(n["points"]), "points"),
    ]
    return rows


if __name__ == "__main__":
    from bench.stats import print_table

    print_table(main())
