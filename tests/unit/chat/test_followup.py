"""`models/followup.py`: which questions are follow-ups, and what they search for."""

from __future__ import annotations

import pytest

from services.chat.models.followup import (
    Earlier,
    card_sources,
    follow_up_queries,
    is_follow_up,
)

CARD = (
    "[1] Accounts — Accounts / Signing in (/book/01-start/01-accounts#signing-in)\n"
    "[2] Accounts — Accounts / Passwords (/book/01-start/01-accounts#passwords)"
)


@pytest.mark.parametrize(
    "question",
    [
        "can you explain that more simply?",
        "tell me more",
        "what about the second one?",
        "why?",
        "Why is that?",
        "Give me an example",
        "what about in Kubernetes?",
        "is it secure?",
        "And the first one?",
    ],
)
def test_follow_ups(question: str) -> None:
    assert is_follow_up(question)


@pytest.mark.parametrize(
    "question",
    [
        "How do I create a workspace?",
        "And how do I reopen a thread?",  # two words of its own: a question of its own
        "Tell me more about search scopes",
        "What does this page say about boosting?",  # "this page" is the reader's place
        "Summarise this chapter",
        "What is page context?",
        "Why does search combine BM25 with embeddings?",
        "How long does a magic link stay valid?",
        "",
    ],
)
def test_not_follow_ups(question: str) -> None:
    assert not is_follow_up(question)


def test_card_sources_read_the_cards_copy_text() -> None:
    assert card_sources(CARD) == {1: "Accounts Signing in", 2: "Accounts Passwords"}
    assert card_sources("no card here") == {}


def test_a_follow_up_searches_the_previous_topic_with_its_own_word() -> None:
    earlier = Earlier(
        "How do I sign in?", "From the book:\n\nUse the link. [1]", card_sources(CARD)
    )
    assert follow_up_queries("tell me more", earlier) == ["How do I sign in?"]
    assert follow_up_queries("what about in Kubernetes?", earlier) == [
        "How do I sign in? kubernetes"
    ]


def test_an_ordinal_picks_the_passage_cited_in_that_position() -> None:
    answer = "From the book:\n\nNo passwords. [2]\n\nUse the link. [1]\n\nIt expires. [1]"
    earlier = Earlier("How do I sign in?", answer, card_sources(CARD))
    assert follow_up_queries("what about the second one?", earlier) == [
        "Accounts Signing in",
        "How do I sign in?",
    ]
    assert follow_up_queries("and the first one?", earlier)[0] == "Accounts Passwords"
    # No such position: the previous topic alone.
    assert follow_up_queries("the fifth one?", earlier) == ["How do I sign in?"]
