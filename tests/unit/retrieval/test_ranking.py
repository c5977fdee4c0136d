"""Ranking arithmetic: RRF, boosts, ordering, dedup."""

from __future__ import annotations

import pytest

from services.retrieval.index.base import Candidate
from services.retrieval.ranking import boost_for, calibrate, rank, rrf, score_fusion


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


def scored(id: str, score: float) -> Candidate:
    return Candidate(id=id, score=score, chapter=None, lesson=None, text_hash=id)


def test_calibrate_scales_each_ranking_to_its_own_best_and_worst() -> None:
    assert calibrate([scored("a", 0.8), scored("b", 0.6), scored("c", 0.4)]) == pytest.approx(
        {"a": 1.0, "b": 0.5, "c": 0.0}
    )
    assert calibrate([scored("a", 42.0), scored("a", 1.0)]) == {"a": 1.0}  # first, best
    assert calibrate([scored("a", 3.0), scored("b", 3.0)]) == {"a": 1.0, "b": 1.0}
    assert calibrate([]) == {}


def test_score_fusion_is_a_weighted_sum_of_calibrated_scores_normalised() -> None:
    dense = [scored("a", 0.9), scored("b", 0.7), scored("c", 0.5)]
    lexical = [scored("c", 12.0), scored("a", 6.0), scored("d", 0.0)]
    fused = score_fusion([dense, lexical], [1.0, 0.5])
    assert fused["a"][0] == pytest.approx((1.0 + 0.5 * 0.5) / 1.5)
    assert fused["b"][0] == pytest.approx(0.5 / 1.5)  # absent from the lexical ranking: 0
    assert fused["c"][0] == pytest.approx((0.0 + 0.5 * 1.0) / 1.5)
    assert fused["d"][0] == pytest.approx(0.0)
    assert score_fusion([dense, dense], [1.0, 1.0])["a"][0] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        score_fusion([dense], [1.0, 1.0])


def test_raw_bm25_scale_does_not_outvote_the_dense_ranking() -> None:
    # BM25 scores are unbounded (here in the hundreds), cosines below 1: calibrated, only
    # the weights decide. The dense winner is far ahead, the lexical winner only slightly.
    dense = [scored("dense-top", 0.9), scored("lex-top", 0.4), scored("x", 0.3)]
    lexical = [scored("lex-top", 310.0), scored("dense-top", 300.0), scored("y", 10.0)]
    for weight in (0.3, 0.5, 1.0):
        ranked = rank([dense, lexical], [1.0, weight], top_k=3, fusion="score")
        assert ranked[0].id == "dense-top"
    # RRF sees ranks only: a lexical weight above 1 hands the win to the lexical top.
    ranked = rank([dense, lexical], [1.0, 1.5], top_k=3, k=20, fusion="rrf")
    assert ranked[0].id == "lex-top"


def test_score_fusion_lets_several_rankings_agreeing_beat_one() -> None:
    # Two phrasings, each with a dense and a lexical ranking: an item second everywhere
    # beats one first in a single ranking and absent elsewhere.
    steady = [scored("steady", 0.8), scored("z", 0.1)]
    rankings = [
        [scored("once", 0.9), *steady],
        steady,
        [scored("steady", 5.0), scored("z", 1.0)],
        [scored("steady", 5.0), scored("z", 1.0)],
    ]
    ranked = rank(rankings, [1.0, 1.0, 0.5, 0.5], top_k=3, fusion="score")
    assert [r.id for r in ranked][:2] == ["steady", "once"]


def test_boost_multiplies_the_score_fusion_too() -> None:
    dense = [scored("far", 0.9), scored("near", 0.85), scored("low", 0.5)]
    near = Candidate(id="near", score=0.85, chapter=1, lesson=None, text_hash="near")
    ranked = rank([[dense[0], near, dense[2]]], [1.0], top_k=3, fusion="score", reader_chapter=1)
    assert ranked[0].id == "near"  # 0.875 x 1.2 beats 1.0
    assert ranked[0].score == pytest.approx(ranked[0].fused * 1.2)
    assert all(0.0 <= r.fused <= 1.0 for r in ranked)
