"""Ranking arithmetic: RRF, boosts, ordering, dedup."""

from __future__ import annotations

import pytest

from services.retrieval.index.base import Candidate
from services.retrieval.ranking import boost_for, rank, rrf


def cand(id: str, chapter: int | None = None, lesson: str | None = None, h: str | None = None):
    return Candidate(id=id, score=0.0, chapter=chapter, lesson=lesson, text_hash=h or id)


def test_rrf_sums_weighted_reciprocal_ranks_normalised() -> None:
    a, b, c = cand("a"), cand("b"), cand("c")
    fused = rrf([[a, b], [b, c]], [1.0, 0.5], k=60)
    best = 1.5 / 61
    assert fused["a"][0] == pytest.approx((1 / 61) / best)
    assert fused["b"][0] == pytest.approx((1 / 62 + 0.5 / 61) / best)
    assert fused["c"][0] == pytest.approx((0.5 / 62) / best)
    top = rrf([[a], [a]], [1, 1], k=60)
    assert top["a"][0] == pytest.approx(1.0)


def test_rrf_counts_an_item_once_per_ranking() -> None:
    a = cand("a")
    assert rrf([[a, a]], [1.0])["a"][0] == pytest.approx(1.0)


def test_boost_factors() -> None:
    kw = {"chapter_boost": 1.2, "lesson_boost": 1.1}
    assert boost_for(2, "x", reader_chapter=2, reader_lesson="x", **kw) == pytest.approx(1.32)
    assert boost_for(2, "y", reader_chapter=2, reader_lesson="x", **kw) == pytest.approx(1.2)
    assert (
        boost_for(3, "x", reader_chapter=2, reader_lesson="x", **kw) == 1.0
    )  # same slug, other chapter
    assert boost_for(3, "x", reader_chapter=None, reader_lesson="x", **kw) == pytest.approx(1.1)
    assert boost_for(None, None, reader_chapter=None, reader_lesson=None, **kw) == 1.0


def test_boost_lifts_a_close_local_result_but_not_a_weak_one() -> None:
    far = [cand(f"f{i}", chapter=9) for i in range(20)]
    local_close = cand("lc", chapter=1)
    local_weak = cand("lw", chapter=1)
    ranking = [far[0], local_close, *far[1:15], local_weak]
    # Two queries and their lexical rankings agree (4 rankings).
    ranked = rank([ranking] * 4, [1.0] * 4, top_k=20, k=60, reader_chapter=1)
    order = [r.id for r in ranked]
    assert order[0] == "lc"  # second place x1.2 beats first place
    assert order[1] == "f0"
    assert order.index("lw") > order.index("f0")
    assert ranked[0].boost == pytest.approx(1.2)
    assert ranked[0].score == pytest.approx(ranked[0].fused * 1.2)


def test_a_strong_result_elsewhere_beats_a_weak_local_one() -> None:
    strong = cand("strong", chapter=5)
    weak_local = cand("weak", chapter=1, lesson="here")
    others = [cand(f"o{i}", chapter=5) for i in range(12)]
    dense = [strong, *others, weak_local]
    lexical = [strong, *others]  # the weak one has no lexical match
    ranked = rank(
        [dense, lexical], [1.0, 1.0], top_k=5, k=60, reader_chapter=1, reader_lesson="here"
    )
    assert ranked[0].id == "strong"
    assert "weak" not in [r.id for r in ranked[:5]]


def test_no_context_means_no_boost_and_top_k_cut() -> None:
    items = [cand(str(i), chapter=1) for i in range(10)]
    ranked = rank([items], [1.0], top_k=3)
    assert [r.id for r in ranked] == ["0", "1", "2"]
    assert all(r.boost == 1.0 for r in ranked)


def test_identical_passages_are_deduplicated_keeping_the_best() -> None:
    a = cand("a", h="same")
    b = cand("b", h="same")
    c = cand("c", h="other")
    ranked = rank([[a, b, c]], [1.0], top_k=5)
    assert [r.id for r in ranked] == ["a", "c"]
