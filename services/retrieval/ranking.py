"""Ranking: reciprocal rank fusion of several rankings, boosting near the reader, dedup.

The fused score is normalised so 1.0 means "first in every ranking"; the boost then
multiplies it. Boosting only reorders the fused candidates (fetched with a wide
prefetch), so a result that ranks far better elsewhere still beats a weak local one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.retrieval.index.base import Candidate


@dataclass(frozen=True)
class Ranked:
    """A fused, boosted result."""

    id: str
    score: float
    """Fused score times boost."""
    fused: float
    """Normalised RRF score before boosting, in (0, 1]."""
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
) -> list[Ranked]:
    """Fuse, boost, sort, drop repeated passages (same text), keep `top_k`."""
    results: list[Ranked] = []
    for key, (fused, cand) in rrf(rankings, weights, k).items():
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
