"""Several agents through the chat service, over real HTTP to the real store and
retrieval services, with the offline model on the real Runner loop: the guide hands a
quiz request to the tutor, whose quiz card comes from the lesson the reader is on and is
graded by `threads.custom_action`; the thread remembers who answered, and a content
question hands back to the book assistant."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from tests.integration.chat.conftest import BOOK, ChatClient, stored_thread

READER = {
    "page_context": {
        "current_chapter": 1,
        "current_lesson": "accounts",
        "current_page": "01-start/01-accounts",
    }
}
LESSON = " ".join(BOOK["01-start/01-accounts.md"].split())


def new_user() -> str:
    return f"learner_{uuid.uuid4().hex[:10]}"


def widget_nodes(node: Any) -> list[dict[str, Any]]:
    """Every component of a widget tree, depth first."""
    node = node if isinstance(node, dict) else node.model_dump(exclude_none=True)
    found = [node]
    for child in node.get("children") or []:
        found += widget_nodes(child)
    return found


def answer_from_lesson(prompt: str) -> str:
    """The word a cloze question leaves out, found by matching it against the lesson."""
    before, after = (re.escape(re.sub(r"\s+", " ", p)) for p in prompt.split("_____", 1))
    match = re.search(before + r"(\S+?)" + after, LESSON)
    assert match, f"question not from the lesson: {prompt}"
    return match.group(1)


async def thread_agent(database_url: str, user: str, thread_id: str) -> str | None:
    """The agent the thread's stored metadata says answered last."""
    thread = await stored_thread(database_url, user, thread_id)
    return thread["metadata"].get("agent")


async def check(chat: ChatClient, thread_id: str, card_id: str, payload: dict[str, Any]) -> Any:
    return await chat.post(
        {
            "type": "threads.custom_action",
            "params": {
                "thread_id": thread_id,
                "item_id": card_id,
                "action": {"type": "quiz.check", "payload": payload},
            },
        }
    )


async def structured_answer(
    chat: ChatClient, thread_id: str, item_id: str, submission: dict[str, Any]
) -> Any:
    """The reader's `threads.add_structured_input` to a structured input item."""
    return await chat.post(
        {
            "type": "threads.add_structured_input",
            "params": {"thread_id": thread_id, "item_id": item_id, "input": submission},
        }
    )


async def test_a_quiz_request_goes_to_the_tutor_and_the_answers_are_graded(
    chat_url: str, database_url: str, connect: Any
) -> None:
    user = new_user()
    chat = connect(chat_url, user)
    reply = await chat.create("Quiz me on this lesson", READER)
    assert reply.status == 200, reply.body
    assert not reply.of_type("error"), reply.of_type("error")
    tasks = [i.task for i in reply.items("task")]
    assert [t.title for t in tasks] == ["Tutor is answering"]
    cards = reply.items("widget")
    assert len(cards) == 1
    nodes = widget_nodes(cards[0].widget)
    form = next(n for n in nodes if n["type"] == "Form")
    assert form["onSubmitAction"]["type"] == "quiz.check"
    quiz_id = form["onSubmitAction"]["payload"]["quiz_id"]
    inputs = [n["name"] for n in nodes if n["type"] == "Input"]
    prompts = [n["value"].split(". ", 1)[1] for n in nodes if n["type"] == "Label"]
    assert inputs == [f"q{n}" for n in range(1, len(inputs) + 1)] and len(inputs) >= 2
    # The questions are the lesson's sentences and the answer key stays on the server.
    answers = [answer_from_lesson(p) for p in prompts]
    # Nothing the browser gets holds the answers: the card, its copy text, the thread.
    fetched = await chat.post(
        {"type": "threads.get_by_id", "params": {"thread_id": reply.thread_id}}
    )
    listed = await chat.post({"type": "threads.list", "params": {"limit": 5}})
    shown = json.dumps([reply.body, [e.model_dump(mode="json") for e in reply.events]])
    shown += json.dumps([fetched.body, listed.body])
    for prompt, answer in zip(prompts, answers, strict=True):
        assert prompt.replace("_____", answer) not in shown
        assert not re.search(re.escape(prompt) + ".{0,40}" + re.escape(answer), shown), prompt
    assert '"quizzes":' not in shown  # the answer key in the thread metadata
    assert "quiz.check" not in reply.text and "Here is a quiz on Accounts" in reply.text
    assert await thread_agent(database_url, user, reply.thread_id) == "Tutor"

    graded = await check(
        chat, reply.thread_id, cards[0].id, {"quiz_id": quiz_id, "q1": answers[0].upper()}
    )
    assert graded.status == 200, graded.body
    replaced = graded.of_type("thread.item.replaced")
    assert [e.item.id for e in replaced] == [cards[0].id]
    result_text = str(replaced[0].item.widget)
    assert "1 of" in result_text and "Not quite" in result_text and "Right" in result_text
    assert graded.text.startswith(f"You got 1 of {len(answers)} right.")

    again = await check(chat, reply.thread_id, cards[0].id, {"quiz_id": quiz_id, "q1": "x"})
    assert again.status == 200
    errors = again.of_type("error")
    assert errors and "closed" in (errors[0].message or ""), again.events


async def test_the_next_turn_continues_with_the_tutor_and_a_question_hands_back(
    chat_url: str, database_url: str, connect: Any
) -> None:
    user = new_user()
    chat = connect(chat_url, user)
    first = await chat.create("Can you test my understanding?", READER)
    assert first.status == 200, first.body
    assert [i.task.title for i in first.items("task")] == ["Tutor is answering"]
    thread_id = first.thread_id

    # The tutor answers the next quiz request directly: no handoff, no task item.
    second = await chat.add(thread_id, "Quiz me again", READER)
    assert second.status == 200, second.body
    assert not second.items("task") and len(second.items("widget")) == 1

    third = await chat.add(thread_id, "How long does a magic link last?", READER)
    assert third.status == 200, third.body
    assert [i.task.title for i in third.items("task")] == ["Book assistant is answering"]
    assert "ten minutes" in third.text
    assert await thread_agent(database_url, user, thread_id) == "Book assistant"


async def test_a_content_question_is_answered_as_before(
    chat_url: str, database_url: str, connect: Any
) -> None:
    """The guide hands a thread's first question to the book assistant without a task item
    (the assistant answers unless the reader sees otherwise)."""
    user = new_user()
    chat = connect(chat_url, user)
    reply = await chat.create("How long does a magic link last?", READER)
    assert reply.status == 200, reply.body
    assert not reply.items("task") and "ten minutes" in reply.text
    assert await thread_agent(database_url, user, reply.thread_id) == "Book assistant"


async def test_a_malformed_or_foreign_quiz_action_is_refused(chat_url: str, connect: Any) -> None:
    owner = connect(chat_url, new_user())
    reply = await owner.create("quiz me", READER)
    card = reply.items("widget")[0]
    bad = await check(owner, reply.thread_id, card.id, {"quiz_id": ""})
    assert bad.of_type("error"), bad.events
    stranger = connect(chat_url, new_user())
    form = next(n for n in widget_nodes(card.widget) if n["type"] == "Form")
    foreign = await check(stranger, reply.thread_id, card.id, form["onSubmitAction"]["payload"])
    assert foreign.status == 404, foreign.body
    # Neither touched the quiz: its owner can still have it graded.
    graded = await check(owner, reply.thread_id, card.id, form["onSubmitAction"]["payload"])
    assert graded.text.startswith("You got 0 of")


async def test_a_quiz_with_nothing_to_go_on_asks_which_chapter(chat_url: str, connect: Any) -> None:
    """No page and no topic: the tutor asks which chapter (a ChatKit structured input with
    the book's chapters); the reader's pick, sent with `threads.add_structured_input`,
    comes back answered and is quizzed on."""
    chat = connect(chat_url, new_user())
    reply = await chat.create("Quiz me")
    assert reply.status == 200, reply.body
    [asked] = reply.items("structured_input")
    [question] = asked.inputs
    assert question.question == "Which chapter should the quiz be on?"
    chapters = [o.value for o in question.options]
    assert len(chapters) == 2 and all(chapters), chapters  # the book's two folders
    assert not reply.items("widget")  # no quiz yet
    assert "Which chapter" in reply.text

    pick = chapters[1]
    answered = await structured_answer(
        chat,
        reply.thread_id,
        asked.id,
        {"status": "answered", "answers": {question.id: {"values": [pick]}}},
    )
    assert answered.status == 200, answered.body
    assert not answered.of_type("error"), answered.of_type("error")
    [replaced] = answered.of_type("thread.item.replaced")
    assert replaced.item.id == asked.id and replaced.item.status == "answered"
    assert replaced.item.inputs[0].answer.values == [pick]
    [card] = answered.items("widget")
    labels = [n["value"] for n in widget_nodes(card.widget) if n["type"] == "Label"]
    assert labels, "a quiz card with questions"
    assert f"Here is a quiz on {pick}" in answered.text

    again = await structured_answer(
        chat,
        reply.thread_id,
        asked.id,
        {"status": "answered", "answers": {question.id: {"values": [pick]}}},
    )
    assert again.of_type("error") or again.status >= 400  # answered once only


async def test_skipping_the_chapter_question_quizzes_on_the_whole_book(
    chat_url: str, connect: Any
) -> None:
    chat = connect(chat_url, new_user())
    reply = await chat.create("Quiz me")
    [asked] = reply.items("structured_input")
    skipped = await structured_answer(
        chat, reply.thread_id, asked.id, {"status": "skipped", "answers": {}}
    )
    assert skipped.status == 200, skipped.body
    [replaced] = skipped.of_type("thread.item.replaced")
    assert replaced.item.status == "skipped"
    assert replaced.item.inputs[0].answer.skipped
    assert len(skipped.items("widget")) == 1  # a quiz, from anywhere in the book
    assert not skipped.items("structured_input")  # not asked again
