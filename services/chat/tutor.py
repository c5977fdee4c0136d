"""The tutor: quizzes the reader on the lesson they are on (`quiz_lesson`), and grades
the answers the quiz card sends back (`answer_quiz`, from `BookChatServer.action`).

An open quiz's answer key stays on the server, in the thread's metadata under
`QUIZZES` (the newest `OPEN_QUIZZES` of them), so the card the browser holds carries
the questions only.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from agents import RunContextWrapper, function_tool
from chatkit.actions import Action
from chatkit.errors import CustomStreamError
from chatkit.store import StoreItemType
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ProgressUpdateEvent,
    StructuredInputItem,
    StructuredInputMultipleChoice,
    StructuredInputMultipleChoiceOption,
    ThreadItemDoneEvent,
    ThreadItemReplacedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    WidgetItem,
)
from pydantic import BaseModel, Field, ValidationError

from services.chat.context import BookAgentContext
from services.chat.quiz import MAX_QUESTIONS, Quiz, build_questions, grade
from services.chat.quiz_card import (
    CHECK_ACTION,
    REVEAL_ACTION,
    questions_text,
    quiz_card,
    results_card,
    results_text,
)
from services.chat.tools import effective_scope
from shared.contracts.pages import PageChapter
from shared.contracts.retrieval import SearchRequest

logger = logging.getLogger(__name__)

QUIZ_TOOL = "quiz_lesson"
QUIZZES = "quizzes"
"""Thread metadata: quiz id -> the quiz with its answers, while it is open."""
OPEN_QUIZZES = 5
LESSON_PASSAGES = 8
"""Passages of the lesson a quiz is built from."""
CHAPTER_INPUT = "quiz_chapter"
"""The id of the structured input that asks which chapter to quiz on."""
CHAPTER_QUESTION = "Which chapter should the quiz be on?"
MAX_CHAPTER_CHOICES = 12


@runtime_checkable
class ChapterBackend(Protocol):
    """Lists the book's chapters (`RetrievalClient` provides it)."""

    async def chapters(self, corpus: str) -> list[PageChapter]: ...


INSTRUCTIONS = """\
You are the tutor of one book. You help the reader check what they learned on the lesson \
they are reading.

- When the reader asks to be quizzed or tested, call `quiz_lesson` (with `topic` when they \
name one). It shows the reader a quiz card built from the lesson; they answer in the card, \
which grades the answers. Then tell them in one sentence that the quiz is ready. Never \
write the questions or the answers yourself.
- When the reader asks about the book's content rather than for a quiz, hand off to the \
book assistant.
"""


class QuizPayload(BaseModel):
    """What the quiz card's actions carry besides the form's fields."""

    quiz_id: str = Field(min_length=1, max_length=64)


@function_tool(name_override=QUIZ_TOOL)
async def quiz_lesson(
    ctx: RunContextWrapper[BookAgentContext], topic: str | None = None, questions: int = 3
) -> str:
    """Show the reader a quiz on the lesson they are reading, built from its passages.

    Args:
        topic: What to quiz on, if the reader named something; otherwise the lesson.
        questions: How many questions (1 to 5).
    """
    agent_ctx = ctx.context
    page = agent_ctx.reader.page_context
    # A named topic may be anywhere in the book (passages near the reader first).
    scope = "full_book" if topic else effective_scope("current_page", page)
    nowhere = topic is None and not (page.current_page or page.current_lesson)
    if nowhere and await _ask_chapter(agent_ctx):  # nothing to go on: the reader picks
        return json.dumps(ASKED)
    await agent_ctx.stream(
        ProgressUpdateEvent(
            icon="notebook-pencil", text=f"Writing a quiz on {topic or 'this lesson'}…"
        )
    )
    query = " ".join((topic or page.current_lesson or page.current_page or "key ideas").split())
    try:
        response = await agent_ctx.search.search(
            SearchRequest(
                queries=[query[:2000]],
                scope=scope,
                page_context=page,
                top_k=LESSON_PASSAGES,
                corpus=agent_ctx.corpus,
            )
        )
    except Exception as exc:  # the model tells the reader; the run goes on
        logger.warning("book search for a quiz failed: %r", exc)
        return json.dumps({"error": "The book could not be searched just now."})
    found = build_questions(response.results, max(1, min(questions, MAX_QUESTIONS)))
    if not found:
        if topic is None and await _ask_chapter(agent_ctx):  # a page outside the book
            return json.dumps(ASKED)
        return json.dumps({"error": "The lesson has no passage to ask about."})
    lesson = response.results[0].source.title if scope == "current_page" else query
    quiz = Quiz(id=uuid.uuid4().hex[:12], lesson=lesson[:500], questions=found)
    _remember(agent_ctx.thread, quiz)
    await agent_ctx.stream_widget(quiz_card(quiz), copy_text=questions_text(quiz))
    return json.dumps(
        {
            "shown": len(found),
            "lesson": quiz.lesson,
            "note": "The quiz card is shown; the reader answers in it. Do not give the answers.",
        }
    )


ASKED = {
    "asked": CHAPTER_QUESTION,
    "note": "The reader is asked which chapter; say so in one sentence and wait for the pick.",
}


async def _ask_chapter(agent_ctx: BookAgentContext) -> bool:
    """Show the reader the book's chapters to pick one for the quiz (a ChatKit structured
    input; their answer comes back as a message, `converter.py`). False: no chapters."""
    backend = agent_ctx.search
    if not isinstance(backend, ChapterBackend):
        return False
    try:
        chapters = await backend.chapters(agent_ctx.corpus)
    except Exception as exc:
        logger.warning("the book's chapters could not be listed: %r", exc)
        return False
    titles = list(dict.fromkeys(c.title for c in chapters if c.slug and c.title))
    if not titles:
        return False
    options = [StructuredInputMultipleChoiceOption(value=t[:200]) for t in titles]
    ask = StructuredInputItem(
        id=agent_ctx.store.generate_item_id("message", agent_ctx.thread, agent_ctx.request_context),
        thread_id=agent_ctx.thread.id,
        created_at=datetime.now(),
        inputs=[
            StructuredInputMultipleChoice(
                id=CHAPTER_INPUT,
                question=CHAPTER_QUESTION,
                options=options[:MAX_CHAPTER_CHOICES],
            )
        ],
    )
    await agent_ctx.stream(ThreadItemDoneEvent(item=ask))
    return True


def is_quiz_action(action: Action[str, Any]) -> bool:
    return action.type in (CHECK_ACTION, REVEAL_ACTION)


async def answer_quiz(
    thread: ThreadMetadata,
    action: Action[str, Any],
    sender: WidgetItem | None,
    new_id: Callable[[StoreItemType], str],
) -> AsyncIterator[ThreadStreamEvent]:
    """Grade (`quiz.check`) or reveal (`quiz.reveal`) an open quiz: its card becomes the
    results card, a short message says the score, and the quiz is closed. A closed or
    unknown quiz, or a malformed payload, ends the stream with an error the reader sees."""
    try:
        payload = QuizPayload.model_validate(action.payload or {})
    except ValidationError as exc:
        raise CustomStreamError(
            f"Malformed {action.type} payload: {exc.errors()[0]['msg']}"
        ) from None
    quizzes = dict(thread.metadata.get(QUIZZES) or {})
    if payload.quiz_id not in quizzes:
        raise CustomStreamError("This quiz is closed: it was answered already or is too old.")
    quiz = Quiz.model_validate(quizzes.pop(payload.quiz_id))
    marks = grade(quiz, action.payload or {}) if action.type == CHECK_ACTION else None
    thread.metadata[QUIZZES] = quizzes
    card = results_card(quiz, marks)
    copy = results_text(quiz, marks)
    if sender is not None:
        yield ThreadItemReplacedEvent(
            item=sender.model_copy(update={"widget": card, "copy_text": copy})
        )
    else:
        yield ThreadItemDoneEvent(
            item=WidgetItem(
                id=new_id("message"),
                thread_id=thread.id,
                created_at=datetime.now(),
                widget=card,
                copy_text=copy,
            )
        )
    if marks is None:
        text = "Here are the answers, each with the sentence of the lesson it comes from."
    else:
        right = sum(m.correct for m in marks)
        text = f"You got {right} of {len(marks)} right."
        if right < len(marks):
            text += " The card shows each answer with the sentence of the lesson it comes from."
        text += " Say “quiz me” for another round."
    yield ThreadItemDoneEvent(
        item=AssistantMessageItem(
            id=new_id("message"),
            thread_id=thread.id,
            created_at=datetime.now(),
            content=[AssistantMessageContent(text=text)],
        )
    )


def _remember(thread: ThreadMetadata, quiz: Quiz) -> None:
    quizzes = dict(thread.metadata.get(QUIZZES) or {})
    quizzes[quiz.id] = quiz.model_dump()
    while len(quizzes) > OPEN_QUIZZES:
        quizzes.pop(next(iter(quizzes)))
    thread.metadata[QUIZZES] = quizzes
