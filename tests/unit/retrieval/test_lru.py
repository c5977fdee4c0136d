"""The in-process LRU in front of Redis."""

from __future__ import annotations

import numpy as np

from services.retrieval.cache import LRU


def test_lru_evicts_least_recently_used() -> None:
    lru = LRU(2)
    v = np.zeros(3, dtype=np.float32)
    lru.put("a", v)
    lru.put("b", v)
    assert lru.get("a") is not None  # a is now most recent
    lru.put("c", v)
    assert lru.get("b") is None
    assert lru.get("a") is not None and lru.get("c") is not None
    assert len(lru) == 2


def test_lru_of_size_zero_keeps_nothing() -> None:
    lru = LRU(0)
    lru.put("a", np.zeros(1, dtype=np.float32))
    assert lru.get("a") is None
