"""The offline model's answer: the book's own best sentences for the question, cited.

No language model is involved: sentences of the retrieved passages are scored by
how many of the question's content words they contain (weighted by rarity across
the passages), and the best few are returned in reading order with their passage's
citation marker. When no sentence shares a content word with the question, the
answer says the book has nothing relevant.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

MAX_SENTENCES = 3
MAX_SENTENCE_CHARS = 400

_WORD = re.compile(r"[a-z0-9][a-z0-9'_-]*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_ITEM = re.compile(r"^\s*(?:[-*+]\s+|\d+[.)]\s+|>\s?)")
_STOPWORD_TEXT = """
a about above after again all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has
have having he her here hers him his how i if in into is it its itself just me more most my no
nor not now of off on once only or other our out over own same she should so some such than that
the their them then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours explain tell describe
show please book chapter page section lesson say says said mean means give know want find
highlight whats what's how's thing things
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class Passage:
    """A retrieved passage as the search tool reported it."""

    n: int
    text: str
    title: str = ""


@dataclass(frozen=True)
class Sentence:
    passage: int
    position: int
    text: str
    score: float


def terms(text: str) -> list[str]:
    """Content words of `text`, lower-cased, with a light plural/verb-ending stem."""
    out = []
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS or len(word) < 3:
            continue
        for suffix in ("ies", "es", "s", "ing", "ed"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 4:
                word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
                break
        out.append(word)
    return out


def sentences(text: str) -> list[str]:
    """`text` split into sentences: paragraphs and list items are blocks, headings dropped."""
    blocks: list[list[str]] = [[]]
    for line in text.split("\n"):
        if not line.strip() or _HEADING.match(line):
            blocks.append([])
            continue
        if _ITEM.match(line):
            blocks.append([])
            line = _ITEM.sub("", line)
        blocks[-1].append(line.strip())
    parts: list[str] = []
    for block in blocks:
        joined = " ".join(" ".join(block).split())
        if joined:
            parts.extend(s.strip() for s in _SENTENCE_END.split(joined) if s.strip())
    return parts


def best_sentences(
    question: str, passages: list[Passage], *, hint: str | None = None, limit: int = MAX_SENTENCES
) -> list[Sentence]:
    """The `limit` sentences that best match `question` (and, weighted less, `hint`)."""
    wanted: dict[str, float] = dict.fromkeys(terms(question), 1.0)
    for t in terms(hint or ""):
        wanted[t] = max(wanted.get(t, 0.0), 0.5)
    if not wanted:
        return []
    split = [(p, sentences(p.text)) for p in passages]
    # Rarer words across the retrieved passages say more about relevance.
    doc_freq = Counter(t for _, sents in split for s in sents for t in set(terms(s)))
    total = sum(len(sents) for _, sents in split) or 1
    scored: list[Sentence] = []
    for rank, (passage, sents) in enumerate(split):
        for position, text in enumerate(sents):
            present = set(terms(text))
            score = sum(
                weight * (1 + math.log(total / doc_freq[t]))
                for t, weight in wanted.items()
                if t in present
            )
            if score > 0:
                # A gentle preference for higher-ranked passages and their earlier sentences.
                score *= 1 / (1 + 0.05 * rank + 0.01 * position)
                scored.append(Sentence(passage.n, position, _clip(text), score))
    top = sorted(scored, key=lambda s: -s.score)[:limit]
    return sorted(top, key=lambda s: (s.passage, s.position))


def compose_answer(question: str, passages: list[Passage], *, hint: str | None = None) -> str:
    """The full offline answer for `question` from `passages`."""
    picked = best_sentences(question, passages, hint=hint)
    if not picked:
        return nothing_relevant()
    lines = [f"{s.text} [{s.passage}]" for s in picked]
    return "From the book:\n\n" + "\n\n".join(lines)


def nothing_relevant() -> str:
    return (
        "I couldn't find anything in the book about that, so I can't answer it from the book. "
        "Try rephrasing, or ask about a topic the book covers."
    )


def search_failed() -> str:
    return (
        "I couldn't search the book just now (the search service did not answer), so I can't "
        "give you an answer grounded in the book. Please try again in a moment."
    )


def _clip(text: str) -> str:
    if len(text) <= MAX_SENTENCE_CHARS:
        return text
    return text[:MAX_SENTENCE_CHARS].rsplit(" ", 1)[0] + "…"
