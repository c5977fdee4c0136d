"""`quiz.py`: cloze questions from a lesson's passages and the grading of answers;
`routing.py`: the offline model's rule for which agent answers."""

from __future__ import annotations

import pytest

from services.chat.models.routing import quiz_topic, target_agent, wants_quiz
from services.chat.quiz import BLANK, MAX_QUESTIONS, Quiz, build_questions, grade, is_right
from services.chat.team import ASSISTANT, TUTOR
from tests.unit.chat.conftest import hit

LESSON = [
    hit(
        1,
        "Sign in with the magic link sent to your email address. A magic link expires after "
        "ten minutes, so request a new one if it stops working.",
        title="Accounts",
    ),
    hit(
        2,
        "The platform has no passwords at all; every sign-in goes through email. "
        "Use `login --token` in scripts.",
        title="Passwords",
    ),
    hit(3, "Short one.", title="Tiny"),
]


def test_questions_are_sentences_of_the_lesson_with_one_term_left_out() -> None:
    questions = build_questions(LESSON, 3)
    assert len(questions) == 3
    for q in questions:
        assert q.prompt.count(BLANK) == 1
        assert q.prompt.replace(BLANK, q.answer) == q.sentence
        assert any(q.sentence in h.text for h in LESSON)
        assert not q.sentence.split()[0].startswith(q.answer)  # never the first word
    assert len({q.answer.lower() for q in questions}) == 3  # each asks for something else
    # One per passage while passages last: both long passages are asked about.
    assert {q.title for q in questions} == {"Accounts", "Passwords"}
    # Code and too-short sentences are not asked about.
    assert not [q for q in questions if "`" in q.sentence or q.sentence == "Short one."]


def test_questions_read_as_the_reader_sees_the_page_not_as_markdown() -> None:
    passage = hit(
        1,
        "Each text part of an answer can carry **annotations** that point to a "
        "[passage](/book/ch1/p1#a) of the snake_case_book, _always_ visible.",
        title="Annotations",
    )
    (question,) = build_questions([passage], 1)
    assert question.sentence == (
        "Each text part of an answer can carry annotations that point to a "
        "passage of the snake_case_book, always visible."
    )
    assert question.answer == "annotations"


def test_a_heading_word_is_preferred_as_the_answer() -> None:
    (question,) = build_questions([LESSON[1]], 1)
    assert question.answer == "passwords"


def test_the_count_is_bounded_and_an_empty_lesson_gives_none() -> None:
    assert len(build_questions(LESSON * 10, 50)) <= MAX_QUESTIONS
    assert build_questions([LESSON[2]], 3) == []
    assert build_questions([], 3) == []


@pytest.mark.parametrize(
    ("given", "right"),
    [
        ("passwords", True),
        ("PASSWORDS", True),
        ("password", True),
        ("pasword", True),
        ("no passwords", True),
        ("  passwords! ", True),
        ("emails", False),
        ("", False),
        ("passwords are what it has none of, I think", False),
    ],
)
def test_answers_tolerate_case_plural_spelling_and_a_short_phrase(given: str, right: bool) -> None:
    assert is_right(given, "passwords") is right


def test_grading_reads_one_field_per_question_and_bounds_what_it_reads() -> None:
    quiz = Quiz(id="q", lesson="Accounts", questions=build_questions(LESSON, 2))
    first, second = quiz.questions
    marks = grade(quiz, {"q1": first.answer, "q2": "x" * 10_000, "q3": second.answer})
    assert [m.correct for m in marks] == [True, False]
    assert len(marks[1].given) == 200


@pytest.mark.parametrize(
    "message",
    [
        "Quiz me on this lesson",
        "quiz",
        "Can you test my understanding?",
        "ask me 3 questions",
        "Check what I've learned",
        "some practice questions please",
    ],
)
def test_quiz_requests_go_to_the_tutor(message: str) -> None:
    assert wants_quiz(message) and target_agent(message) == TUTOR


@pytest.mark.parametrize(
    "message",
    [
        "How long does a magic link last?",
        "What is a quiz in this book?",
        "How do I test my code?",
        "Where are the tests?",
    ],
)
def test_other_messages_go_to_the_book_assistant(message: str) -> None:
    assert not wants_quiz(message) and target_agent(message) == ASSISTANT


def test_a_quiz_topic_is_what_the_request_names() -> None:
    assert quiz_topic("quiz me on magic links") == "magic links"
    assert quiz_topic("Quiz me on this lesson") is None
    assert quiz_topic("quiz me") is None
