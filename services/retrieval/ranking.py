"""Ranking: fusion of several rankings, boosting near the reader, dedup.

Two fusions: reciprocal rank fusion (`rrf`, ranks only) and score fusion calibrated
per ranking (`score`: each ranking's own scores min-max scaled, then a weighted sum, so a
lexical ranking's unbounded BM25 scores count no more than its weight). Either fused
score is normalised so 1.0 means "first in every ranking"; the boost then
multiplies it. Boosting only reorders the fused candidates (fetched with a wide
prefetch), so a result that ranks far better elsewhere still beats a weak local one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.retrieval.index.base import Candidate
from services.retrieval.settings import Fusion


@dataclass(frozen=True)
class Ranked:
    """A fused, boosted result."""

    id: str
    score: float
    """Fused score times boost."""
    fused: float
    """Normalised fused score before boosting, in [0, 1] (RRF: (0, 1])."""
    boost: float
    chapter: int | None
    lesson: str | None
    text_hash: str | None


def rrf(
    rankings: Sequence[Sequence[Candidate]], weights: Sequence[float], k: int = 60
) -> dict[str, tuple[float, Candidate]]:
    """Reciprocal rank fusion: sum over rankings of `weight / (k + rank)`, rank from 1.

    Scores are divided by `sum(weights) / (k + 1)`, the score of an item ranked first
    everywhere, so they fall in (0, 1].
    """
    if len(rankings) != len(weights):
        raise ValueError("one weight per ranking")
    best = sum(weights) / (k + 1)
    fused: dict[str, tuple[float, Candidate]] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        seen: set[str] = set()
        for rank, candidate in enumerate(ranking, start=1):
            if candidate.id in seen:
                continue
            seen.add(candidate.id)
            score, first = fused.get(candidate.id, (0.0, candidate))
            fused[candidate.id] = (score + weight / (k + rank), first)
    if best <= 0:
        return fused
    return {key: (score / best, cand) for key, (score, cand) in fused.items()}


def calibrate(ranking: Sequence[Candidate]) -> dict[str, float]:
    """One ranking's scores min-max scaled: its best 1.0, its worst retrieved 0.0 (all
    1.0 when they are equal). A repeated id keeps its first, best, score."""
    scores: dict[str, float] = {}
    for candidate in ranking:
        scores.setdefault(candidate.id, candidate.score)
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high - low <= 1e-12:
        return dict.fromkeys(scores, 1.0)
    return {key: (value - low) / (high - low) for key, value in scores.items()}


def score_fusion(
    rankings: Sequence[Sequence[Candidate]], weights: Sequence[float]
) -> dict[str, tuple[float, Candidate]]:
    """Score fusion calibrated per ranking: sum over rankings of `weight * calibrated
    score` (`calibrate`; a ranking that did not return an item adds 0, as its worst
    retrieved one does), divided by `sum(weights)`, so scores fall in [0, 1] and 1.0 is
    "best in every ranking". Unlike RRF it keeps how far apart the scores are: a clear
    dense winner stays ahead of an item that only one lexical ranking likes."""
    if len(rankings) != len(weights):
        raise ValueError("one weight per ranking")
    total = sum(weights)
    fused: dict[str, tuple[float, Candidate]] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        firsts: dict[str, Candidate] = {}
        for candidate in ranking:
            firsts.setdefault(candidate.id, candidate)
        for key, value in calibrate(ranking).items():
            score, first = fused.get(key, (0.0, firsts[key]))
            fused[key] = (score + weight * value, first)
    if total <= 0:
        return fused
    return {key: (score / total, cand) for key, (score, cand) in fused.items()}


def boost_for(
    chapter: int | None,
    lesson: str | None,
    *,
    reader_chapter: int | None,
    reader_lesson: str | None,
    chapter_boost: float = 1.2,
    lesson_boost: float = 1.1,
) -> float:
    """Multiplier for a result near the reader: x chapter_boost in the reader's chapter,
    and x lesson_boost more in the reader's lesson.

    Lesson slugs repeat across chapters ("introduction"), so a lesson only counts when the
    chapter matches too or the reader's chapter is unknown.
    """
    factor = 1.0
    same_chapter = reader_chapter is not None and chapter == reader_chapter
    if same_chapter:
        factor *= chapter_boost
    if (
        reader_lesson is not None
        and lesson == reader_lesson
        and (same_chapter or reader_chapter is None)
    ):
        factor *= lesson_boost
    return factor


def rank(
    rankings: Sequence[Sequence[Candidate]],
    weights: Sequence[float],
    *,
    top_k: int,
    k: int = 60,
    reader_chapter: int | None = None,
    reader_lesson: str | None = None,
    chapter_boost: float = 1.2,
    lesson_boost: float = 1.1,
    fusion: Fusion = "rrf",
) -> list[Ranked]:
    """Fuse (`rrf` with constant `k`, or `score`), boost, sort, drop repeated passages
    (same text), keep `top_k`."""
    results: list[Ranked] = []
    fused_all = rrf(rankings, weights, k) if fusion == "rrf" else score_fusion(rankings, weights)
    for key, (fused, cand) in fused_all.items():
        boost = boost_for(
            cand.chapter,
            cand.lesson,
            reader_chapter=reader_chapter,
            reader_lesson=reader_lesson,
            chapter_boost=chapter_boost,
            lesson_boost=lesson_boost,
        )
        results.append(
            Ranked(key, fused * boost, fused, boost, cand.chapter, cand.lesson, cand.text_hash)
        )
    results.sort(key=lambda r: (-r.score, -r.fused, r.id))
    kept: list[Ranked] = []
    texts: set[str] = set()
    for result in results:
        if result.text_hash is not None:
            if result.text_hash in texts:
                continue
            texts.add(result.text_hash)
        kept.append(result)
        if len(kept) == top_k:
            break
    return kept
