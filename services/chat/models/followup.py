"""Follow-up questions for the offline model: "tell me more", "why?", "the second one?".

Such a question has almost nothing to search for on its own; its topic is the
conversation's. The rule (`is_follow_up`): a question is a follow-up when it has at
most `MAX_WORDS` words, at most `MAX_OWN_TERMS` content word of its own (a content
word of `extractive.terms` that is not follow-up vocabulary such as "more", "simply",
"second", "example"), and at least one marker of reference to what was said: a pronoun
or deictic word ("it", "that", "these", "one"...), a follow-up cue ("more", "why",
"again", an ordinal...) or a leading "and"/"but"/"so"/"what about"/"how about".
A question naming the reader's place ("this page", "this chapter", "the current
lesson"...) is about that place, not the conversation: never a follow-up.

The rewrite (`follow_up_queries`): search the previous question's topic (its own
words, or what it resolved to if it was a follow-up itself) plus the follow-up's own
content word. An ordinal ("the second one", "the last one") picks the passage the
previous answer cited in that position: its section, as the sources card showed it,
becomes the first query, the previous topic the second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from services.chat.models.extractive import terms

MAX_WORDS = 12
MAX_OWN_TERMS = 1
_REFERENCE_TEXT = """
it its it's that that's this these those they them their there one ones former latter same such
above
"""
_CUE_TEXT = """
more else further why elaborate simpler simply simple easier plainer plain example examples again
detail details clarify expand rephrase mean meaning continue go on also instead another other
briefly short shorter summarize summarise words
"""
REFERENCES = frozenset(_REFERENCE_TEXT.split())
"""Words that point back at what was said."""
CUES = frozenset(_CUE_TEXT.split())
"""Follow-up vocabulary: asks for more of the same, not for a new topic."""
ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4, "last": -1}
LEADS = ("and ", "but ", "so ", "then ", "what about ", "how about ", "what else")
_LOCATION = re.compile(
    r"\b(?:this|that|the current|my current|current)\s+(?:page|chapter|section|lesson|book)\b"
)
_WORDS = re.compile(r"[a-z0-9][a-z0-9'_-]*")
_CUE_TERMS = frozenset(terms(" ".join(CUES | set(ORDINALS) | REFERENCES)))
_CITED = re.compile(r"\[(\d{1,3})\]")
_CARD_LINE = re.compile(r"^\[(\d{1,3})\]\s+(.+?)(?:\s+\([^()\s]*\))?$")


@dataclass
class Earlier:
    """The reader's previous turn, as the model input shows it."""

    topic: str
    """What it searched for: its question, or what that resolved to."""
    answer: str = ""
    """The assistant's answer to it."""
    sources: dict[int, str] = field(default_factory=dict)
    """Passage number -> its title and section, from the sources card."""

    def cited(self) -> list[int]:
        """Passage numbers in the order the answer first cites them."""
        seen: list[int] = []
        for n in (int(m) for m in _CITED.findall(self.answer)):
            if n not in seen:
                seen.append(n)
        return seen


def own_words(question: str) -> list[str]:
    """The question's words that carry a topic of its own (not follow-up vocabulary)."""
    text = _LOCATION.sub(" ", question.lower())
    return [w for w in _WORDS.findall(text) if any(t not in _CUE_TERMS for t in terms(w))]


def is_follow_up(question: str) -> bool:
    """Whether `question` leans on the conversation for its topic (module docstring)."""
    text = " ".join(question.lower().split())
    words = _WORDS.findall(text)
    if not words or len(words) > MAX_WORDS or _LOCATION.search(text):
        return False
    if len(own_words(question)) > MAX_OWN_TERMS:
        return False
    marked = any(w in REFERENCES or w in CUES or w in ORDINALS for w in words)
    return marked or text.startswith(LEADS)


def card_sources(copy_text: str) -> dict[int, str]:
    """Passage number -> "title section" from a sources card's copy text
    (`[n] Title — Section / Subsection (url)` per line)."""
    out: dict[int, str] = {}
    for line in copy_text.splitlines():
        match = _CARD_LINE.match(line.strip())
        if match:
            title, _, section = match.group(2).partition(" — ")
            parts = [title, *section.split(" / ")]
            label: list[str] = []
            for part in (p.strip() for p in parts):
                if part and part not in label:
                    label.append(part)
            out[int(match.group(1))] = " ".join(label)
    return out


def follow_up_queries(question: str, earlier: Earlier) -> list[str]:
    """The search phrasings for follow-up `question` (see the module docstring)."""
    own = " ".join(own_words(question))
    queries = [f"{earlier.topic} {own}".strip()]
    ordinal = next((ORDINALS[w] for w in _WORDS.findall(question.lower()) if w in ORDINALS), None)
    if ordinal is not None:
        order = earlier.cited() or sorted(earlier.sources)
        if -len(order) <= ordinal < len(order):
            label = earlier.sources.get(order[ordinal])
            if label:
                queries.insert(0, f"{label} {own}".strip())
    return queries
