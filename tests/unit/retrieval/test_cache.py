"""The embedding cache's in-process layer (no Redis): what it keeps, what it forgets."""

from __future__ import annotations

import numpy as np

from services.retrieval.cache import CachedEmbedder
from services.retrieval.embeddings import Purpose, Vectors


class CountingEmbedder:
    """A provider that records which texts it was asked for (the provider is not under test)."""

    model_id = "test/counting"
    dimension = 4

    def __init__(self) -> None:
        self.embedded: list[str] = []

    async def embed(self, texts: list[str], purpose: Purpose = "query") -> Vectors:
        self.embedded += texts
        return np.asarray([[len(text), 1, 0, 0] for text in texts], dtype=np.float32)

    async def close(self) -> None:
        pass


async def test_repeated_queries_come_from_memory() -> None:
    inner = CountingEmbedder()
    cache = CachedEmbedder(inner, lru_size=10)
    first = await cache.embed(["alpha", "beta"])
    again = await cache.embed(["beta", "alpha", "beta"])
    assert inner.embedded == ["alpha", "beta"]
    np.testing.assert_array_equal(again, first[[1, 0, 1]])
    assert cache.stats == {"memory_hits": 3, "redis_hits": 0, "misses": 2}
    assert cache.hit_rate() == 3 / 5


async def test_the_least_recently_used_query_is_forgotten_first() -> None:
    inner = CountingEmbedder()
    cache = CachedEmbedder(inner, lru_size=2)
    await cache.embed(["a"])
    await cache.embed(["b"])
    await cache.embed(["a"])  # a is now the most recent
    await cache.embed(["c"])  # evicts b
    inner.embedded.clear()
    await cache.embed(["a", "c"])
    assert inner.embedded == []
    await cache.embed(["b"])
    assert inner.embedded == ["b"]


async def test_documents_and_a_zero_size_cache_keep_nothing() -> None:
    inner = CountingEmbedder()
    cache = CachedEmbedder(inner, lru_size=10)
    await cache.embed(["chunk", "chunk"], "document")
    await cache.embed(["chunk"], "document")
    assert inner.embedded == ["chunk", "chunk"]  # once per call, duplicates folded
    assert cache.lru is not None and len(cache.lru) == 0
    off = CachedEmbedder(inner, lru_size=0)
    inner.embedded.clear()
    await off.embed(["q"])
    await off.embed(["q"])
    assert inner.embedded == ["q", "q"]
