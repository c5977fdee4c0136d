"""The offline model's routing rule between agents (the handoffs a real model chooses).

A message asking to be quizzed goes to the tutor; anything else to the book
assistant. "Asking to be quizzed" is a phrasing such as "quiz me", "test me",
"test my understanding / knowledge", "check what I learned", "ask me (some)
questions", "practice questions" or a bare "quiz" (see `QUIZ_REQUEST`).
"""

from __future__ import annotations

import re

from services.chat.team import ASSISTANT, TUTOR

QUIZ_REQUEST = re.compile(
    r"\b(?:quiz|test|examine)\s+(?:me|us)\b"
    r"|\b(?:check|test)\s+(?:what\s+i(?:'ve|\s+have)?\s+(?:learn(?:ed|t)|read|understood)"
    r"|my\s+(?:understanding|knowledge))\b"
    r"|\bask\s+me\s+(?:some\s+|a\s+few\s+|\d+\s+)?questions\b"
    r"|\bpractice\s+questions?\b"
    r"|^\W*(?:a\s+)?quiz\W*$",
    re.I,
)


def wants_quiz(message: str) -> bool:
    """Whether `message` asks to be quizzed (see the module docstring)."""
    return bool(QUIZ_REQUEST.search(message))


def target_agent(message: str) -> str:
    """The agent that should answer `message`."""
    return TUTOR if wants_quiz(message) else ASSISTANT


_TOPIC = re.compile(r"\b(?:on|about)\s+(?:the\s+)?(.{3,200}?)\W*$", re.I)
_HERE = re.compile(r"^(?:this|that|it|the|current)\b(?:\s+(?:lesson|page|chapter|one))?$", re.I)


def quiz_topic(message: str) -> str | None:
    """What a quiz request names ("quiz me on magic links"), or None for the lesson."""
    match = _TOPIC.search(message)
    if match is None or _HERE.match(match.group(1).strip()):
        return None
    return match.group(1).strip()
