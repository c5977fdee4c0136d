"""The tutor's widgets: the quiz card (a form, one field per question) and the card that
replaces it with the marks or the answers."""

from __future__ import annotations

from typing import Any

from chatkit.widgets import DynamicWidgetRoot

from services.chat.quiz import Mark, Quiz, field_name

CHECK_ACTION = "quiz.check"
"""Submitting the quiz form: the answers, by field name, graded (`tutor.py`)."""
REVEAL_ACTION = "quiz.reveal"
"""The reveal button: the answers shown without grading."""


def quiz_card(quiz: Quiz) -> DynamicWidgetRoot:
    """The questions as a form: a labelled field for each, a check and a reveal button."""
    payload = {"quiz_id": quiz.id}
    fields: list[dict[str, Any]] = []
    for n, question in enumerate(quiz.questions, start=1):
        name = field_name(n)
        fields += [
            {"type": "Label", "value": f"{n}. {question.prompt}", "fieldName": name},
            {"type": "Input", "name": name, "placeholder": "Your answer", "required": False},
        ]
    buttons = {
        "type": "Row",
        "gap": 2,
        "children": [
            {"type": "Button", "label": "Check my answers", "submit": True, "style": "primary"},
            {
                "type": "Button",
                "label": "Reveal the answers",
                "style": "secondary",
                "onClickAction": {"type": REVEAL_ACTION, "payload": payload},
            },
        ],
    }
    return DynamicWidgetRoot.model_validate(
        {
            "type": "Card",
            "key": f"quiz-{quiz.id}",
            "children": [
                {"type": "Title", "value": f"Quiz: {quiz.lesson}", "size": "sm"},
                {"type": "Caption", "value": "Fill in the missing word of each sentence."},
                {
                    "type": "Form",
                    "direction": "col",
                    "gap": 2,
                    "onSubmitAction": {"type": CHECK_ACTION, "payload": payload},
                    "children": [*fields, buttons],
                },
            ],
        }
    )


def results_card(quiz: Quiz, marks: list[Mark] | None) -> DynamicWidgetRoot:
    """The quiz answered: each sentence whole with its source link, and with `marks` the
    reader's answer and whether it was right (None: the answers were revealed)."""
    rows: list[dict[str, Any]] = []
    for n, question in enumerate(quiz.questions, start=1):
        mark = marks[n - 1] if marks is not None else None
        head: list[dict[str, Any]] = [{"type": "Text", "value": f"{n}.", "weight": "semibold"}]
        if mark is not None:
            head.append(
                {
                    "type": "Badge",
                    "label": "Right" if mark.correct else "Not quite",
                    "color": "success" if mark.correct else "danger",
                }
            )
            head.append(
                {"type": "Text", "value": f"Your answer: {mark.given or '(none)'}", "size": "sm"}
            )
        rows.append(
            {
                "type": "Col",
                "gap": 1,
                "children": [
                    {"type": "Row", "gap": 2, "children": head},
                    {"type": "Text", "value": f"Answer: {question.answer}", "weight": "semibold"},
                    {"type": "Text", "value": question.sentence, "size": "sm"},
                    {"type": "Markdown", "value": f"From {_link(question.title, question.url)}"},
                ],
            }
        )
    summary = (
        f"{sum(m.correct for m in marks)} of {len(marks)} right"
        if marks is not None
        else "The answers"
    )
    return DynamicWidgetRoot.model_validate(
        {
            "type": "Card",
            "key": f"quiz-{quiz.id}",
            "children": [
                {"type": "Title", "value": f"Quiz: {quiz.lesson} — {summary}", "size": "sm"},
                *rows,
            ],
        }
    )


def _link(title: str, url: str) -> str:
    """A Markdown link to the passage; the characters that would break it are dropped
    from the title (the web client's Markdown has no escapes)."""
    text = "".join(c for c in title if c not in "[]*`") or "the passage"
    return f"[{text}]({url.replace(')', '%29').replace(' ', '%20')})"


def questions_text(quiz: Quiz) -> str:
    """The open quiz as plain text: the questions only (it reaches the browser)."""
    lines = [f"Quiz on {quiz.lesson}:"]
    lines += [f"{n}. {q.prompt}" for n, q in enumerate(quiz.questions, start=1)]
    return "\n".join(lines)


def results_text(quiz: Quiz, marks: list[Mark] | None) -> str:
    """The results as plain text (copying, and the model's view of the thread)."""
    lines = [f"Quiz on {quiz.lesson}:"]
    for n, question in enumerate(quiz.questions, start=1):
        mark = marks[n - 1] if marks is not None else None
        verdict = "" if mark is None else (" right" if mark.correct else " wrong")
        given = "" if mark is None else f" (reader: {mark.given or 'no answer'}{verdict})"
        lines.append(f"{n}. {question.prompt} — answer: {question.answer}{given}")
    return "\n".join(lines)
