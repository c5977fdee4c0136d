"""Quizzes built from a lesson's passages, and the reader's answers graded against them.

A question is a sentence of the lesson with one key term left out (a cloze); the term
is the answer, and the sentence, its page and its link say where the lesson teaches
it. Building and grading are deterministic and need no model, so the tutor quizzes
the same way on the offline model and on a hosted one: the model only decides *when*
to quiz (it calls the tutor's `quiz_lesson` tool); the questions and the marks come
from the book.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from pydantic import BaseModel, Field

from services.chat.models.extractive import STOPWORDS, sentences
from shared.contracts.retrieval import SearchHit

MAX_QUESTIONS = 5
"""Most questions one quiz asks."""
MAX_ANSWER_CHARS = 200
"""Longest answer graded (what a reader types into one field)."""
MIN_SENTENCE_WORDS = 7
MAX_SENTENCE_WORDS = 45
MIN_TERM_CHARS = 4
SIMILAR = 0.8
"""Spelling tolerance: an answer this close to the term (difflib ratio) is right."""
BLANK = "_____"

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*[A-Za-z0-9]|[A-Za-z0-9]")
_CODE_OR_MARKUP = re.compile(r"`|\||\{|\}|<|>|\[|\]|https?://|^#")
_LINK = re.compile(r"\[([^\]\n]{1,200})\]\([^)\s]{1,2000}\)")
_EMPHASIS = re.compile(r"(\*\*|\*)(?=\S)(.+?)(?<=\S)\1|(?<!\w)(__|_)(?=\S)(.+?)(?<=\S)\3(?!\w)")


class Question(BaseModel):
    """One question of a quiz, with what grading and the results card need."""

    prompt: str = Field(max_length=2000)
    """The lesson's sentence with the answer blanked out."""
    answer: str = Field(max_length=200)
    """The left-out term."""
    sentence: str = Field(max_length=2000)
    """The sentence as the lesson has it."""
    title: str = Field(max_length=500)
    """The page the sentence is on."""
    url: str = Field(max_length=2000)
    """Link to the passage."""


class Quiz(BaseModel):
    """A quiz the tutor showed; kept in the thread's metadata until it is answered."""

    id: str = Field(max_length=64)
    lesson: str = Field(max_length=500)
    """What the quiz is on, as the reader sees it."""
    questions: list[Question] = Field(max_length=MAX_QUESTIONS)


@dataclass(frozen=True, slots=True)
class Mark:
    """How one answer was graded."""

    question: Question
    given: str
    correct: bool


def build_questions(hits: Sequence[SearchHit], count: int = 3) -> list[Question]:
    """Up to `count` cloze questions from `hits`, at most one per passage while there are
    passages enough, each with a different answer."""
    count = max(1, min(count, MAX_QUESTIONS))
    chosen: list[Question] = []
    used_terms: set[str] = set()
    used_sentences: set[str] = set()
    for per_passage in (1, 3):
        for hit in hits:
            taken = sum(1 for q in chosen if q.url == hit.source.url)
            for sentence in sentences(hit.text):
                if len(chosen) >= count or taken >= per_passage:
                    break
                if sentence in used_sentences:
                    continue
                question = _cloze(sentence, hit, used_terms)
                if question is not None:
                    chosen.append(question)
                    used_terms.add(_normal(question.answer))
                    used_sentences.add(sentence)
                    taken += 1
        if len(chosen) >= count:
            break
    return chosen


def grade(quiz: Quiz, answers: Mapping[str, Any]) -> list[Mark]:
    """Each question's answer (`answers["q1"]`, `["q2"]`, ... as the quiz card's fields
    are named) graded against the term the lesson uses."""
    marks = []
    for n, question in enumerate(quiz.questions, start=1):
        given = str(answers.get(field_name(n)) or "").strip()[:MAX_ANSWER_CHARS]
        marks.append(Mark(question, given, is_right(given, question.answer)))
    return marks


def is_right(given: str, expected: str) -> bool:
    """Whether `given` names `expected`: the same words ignoring case, accents and
    punctuation, a plural, or a near spelling; the term inside a short phrase counts."""
    given_n, expected_n = _normal(given), _normal(expected)
    if not given_n:
        return False
    if given_n == expected_n or _stem(given_n) == _stem(expected_n):
        return True
    words = given_n.split()
    if expected_n in words or _stem(expected_n) in {_stem(w) for w in words}:
        return len(words) <= 4
    return SequenceMatcher(None, given_n, expected_n).ratio() >= SIMILAR


def field_name(n: int) -> str:
    """The quiz card's field for question `n` (1-based)."""
    return f"q{n}"


def _plain(sentence: str) -> str:
    """The sentence as a reader sees it: Markdown links and emphasis reduced to their text."""
    unlinked = _LINK.sub(r"\1", sentence)
    return _EMPHASIS.sub(lambda m: m.group(2) or m.group(4), unlinked)


def _cloze(sentence: str, hit: SearchHit, used: set[str]) -> Question | None:
    sentence = _plain(sentence)
    words = sentence.split()
    if not MIN_SENTENCE_WORDS <= len(words) <= MAX_SENTENCE_WORDS:
        return None
    if _CODE_OR_MARKUP.search(sentence) or sentence.endswith(("?", ":")):
        return None
    term = _key_term(sentence, hit, used)
    if term is None:
        return None
    start, end = term
    answer = sentence[start:end]
    return Question(
        prompt=sentence[:start] + BLANK + sentence[end:],
        answer=answer,
        sentence=sentence,
        title=hit.source.title[:500],
        url=hit.source.url[:2000],
    )


def _key_term(sentence: str, hit: SearchHit, used: set[str]) -> tuple[int, int] | None:
    """Where the sentence's most telling word is: one the page's headings use, else a
    number, else the longest uncommon word; never the sentence's first word."""
    heading_words = {_stem(w.lower()) for h in hit.source.heading_path for w in _WORD.findall(h)}
    best: tuple[float, int, int] | None = None
    for index, match in enumerate(_WORD.finditer(sentence)):
        word = match.group()
        low = word.lower()
        if index == 0 or low in STOPWORDS or _normal(word) in used:
            continue
        if len(word) < MIN_TERM_CHARS and not word.isdigit():
            continue
        score = min(len(word), 12) / 12
        if _stem(low) in heading_words:
            score += 1.0
        if word.isdigit():
            score += 0.6
        if best is None or score > best[0]:
            best = (score, match.start(), match.end())
    return None if best is None else (best[1], best[2])


def _normal(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(_WORD.findall(text.lower()))


def _stem(word: str) -> str:
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word
