"""`models/extractive.py`: the offline model's answers, sentences picked from the passages."""

from __future__ import annotations

from services.chat.models.extractive import Passage, best_sentences, compose_answer, sentences


def test_sentences_drop_markdown_and_split() -> None:
    text = "# Setup\n\nInstall it first. Then\nrun it!\n- A bullet\n  point.\n1. Numbered.\n"
    assert sentences(text) == ["Install it first.", "Then run it!", "A bullet point.", "Numbered."]


def test_extractive_answer_picks_matching_sentences_with_citations() -> None:
    passages = [
        Passage(1, "The index is rebuilt nightly. Backups run on Sundays."),
        Passage(2, "To rebuild the index by hand, run make index. It takes a minute."),
    ]
    picked = best_sentences("How do I rebuild the index?", passages)
    assert [s.passage for s in picked][:2] == [1, 2]
    answer = compose_answer("How do I rebuild the index?", passages)
    assert "run make index. [2]" in answer and "Backups" not in answer


def test_extractive_answer_says_when_nothing_matches() -> None:
    answer = compose_answer("What about penguins?", [Passage(1, "The index is rebuilt nightly.")])
    assert "couldn't find anything in the book" in answer
