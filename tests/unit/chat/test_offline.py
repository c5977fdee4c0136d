"""The offline model through the real Runner loop (the chat app, a memory store, a fake
search): follow-ups search the conversation's topic, out-of-scope questions are refused."""

from __future__ import annotations

from services.chat.models.extractive import NOT_COVERED
from tests.unit.chat.conftest import READER, FakeSearch, MakeChat, hit, user_input

SIGN_IN = (
    "Sign in with the magic link sent to your email address. A magic link expires after ten "
    "minutes. Request a new magic link when the old one stops working. Each magic link works "
    "once. The magic link opens the book on the page you were reading."
)
HITS = [
    hit(1, SIGN_IN, title="Accounts"),
    hit(
        2, "Narrow a search to the current chapter with the scope menu.", chapter=2, title="Scopes"
    ),
]
QUESTION = "How does signing in with a magic link work?"


def thread_of(reply: object) -> str:
    return str(reply.events[0].thread.id)  # type: ignore[attr-defined]


async def test_a_follow_up_searches_the_previous_question(make_chat: MakeChat) -> None:
    search = FakeSearch(hits=list(HITS))
    async with make_chat(search=search) as chat:
        first = await chat.create(QUESTION, READER)
        assert search.requests[0].queries == [QUESTION]
        more = await chat.add(thread_of(first), "tell me more")
        assert search.requests[1].queries == [QUESTION]  # not "tell me more"
        assert more.text.startswith("From the book:") and "magic link" in more.text
        # It prefers what the first answer did not already say.
        said = [line for line in first.text.split("\n\n")[1:]]
        assert any(line not in said for line in more.text.split("\n\n")[1:])

        # A follow-up of a follow-up still searches the first topic.
        why = await chat.add(thread_of(first), "why?")
        assert search.requests[2].queries == [QUESTION]
        assert why.text != NOT_COVERED

        # A question with its own topic is searched as asked.
        await chat.add(thread_of(first), "How do I narrow a search to a chapter?")
        assert search.requests[3].queries == ["How do I narrow a search to a chapter?"]


async def test_an_ordinal_follow_up_searches_that_cited_passage(make_chat: MakeChat) -> None:
    search = FakeSearch(hits=list(HITS))
    async with make_chat(search=search) as chat:
        first = await chat.create("How do I sign in with a magic link, and narrow a search?")
        assert "[1]" in first.text and "[2]" in first.text
        await chat.add(thread_of(first), "what about the second one?")
        queries = search.requests[1].queries
        assert queries[0] == "Scopes Section"  # passage [2]'s title and section, from the card
        assert queries[1] == "How do I sign in with a magic link, and narrow a search?"


async def test_a_question_about_a_selection_is_not_a_follow_up(make_chat: MakeChat) -> None:
    search = FakeSearch(hits=list(HITS))
    async with make_chat(search=search) as chat:
        first = await chat.create(QUESTION, READER)
        selection = "Narrow a search to the current chapter with the scope menu."
        await chat.post(
            {
                "type": "threads.add_user_message",
                "params": {
                    "thread_id": thread_of(first),
                    "input": user_input("What does this mean?", quoted_text=selection),
                },
            }
        )
        assert search.requests[1].queries[0] == "What does this mean?"


async def test_out_of_scope_questions_are_refused_in_scope_ones_answered(
    make_chat: MakeChat,
) -> None:
    async with make_chat(search=FakeSearch(hits=list(HITS))) as chat:
        for question in (
            "What is the capital of Australia?",
            "How do I bake sourdough bread?",
            "Who won the 1998 World Cup?",
        ):
            reply = await chat.create(question, READER)
            assert reply.text == NOT_COVERED, question
            assert not reply.of_type("error")
        answered = await chat.create("How long is a magic link valid?", READER)
        assert answered.text.startswith("From the book:") and "[1]" in answered.text
