"""The book assistant: instructions, tools and model settings."""

from __future__ import annotations

from agents import Agent, Model, ModelSettings, RunContextWrapper

from services.chat.context import BookAgentContext
from services.chat.tools import highlight_passage, search_book, stop_at_client_tool

INSTRUCTIONS = """\
You are the reading assistant of one book. You answer the reader's questions from the book \
and from nothing else.

How to answer:
- Before answering any question about the book's content, call `search_book`. Use scope \
`current_page` when the reader asks about "this page", `current_chapter` for "this chapter", \
otherwise `full_book`. Pass the question and a few alternative phrasings or keywords.
- Base every statement on the passages `search_book` returned. Cite them with their numbers in \
square brackets right after the sentence they support, e.g. "... [1]" or "... [2][3]". Never \
cite a number that `search_book` did not return.
- If the passages do not answer the question, say plainly that the book does not cover it. Do \
not fill gaps from general knowledge.
- If `search_book` reports an error, tell the reader you could not search the book right now \
and suggest trying again; do not answer from memory.
- When the reader wants to see where something is in the book, answer first, then call \
`highlight_passage` with the number of the best passage.
- Be concise: a short paragraph or a few bullet points. Quote the book sparingly and exactly.
"""


def instructions(ctx: RunContextWrapper[BookAgentContext], agent: Agent[BookAgentContext]) -> str:
    """The fixed instructions plus where the reader is in the book."""
    reader = ctx.context.reader
    page = reader.page_context
    where = [
        f"chapter {page.current_chapter}" if page.current_chapter is not None else None,
        f"lesson `{page.current_lesson}`" if page.current_lesson else None,
        f"page `{page.current_page}`" if page.current_page else None,
    ]
    position = ", ".join(w for w in where if w) or "unknown"
    text = f"{INSTRUCTIONS}\nThe reader is at: {position}."
    if reader.selected_text:
        text += (
            "\nThe reader has selected a passage in the book (given with their message); "
            "questions like 'what does this mean' refer to it."
        )
    return text


def build_agent(
    model: Model, *, parallel_tool_calls: bool | None = None
) -> Agent[BookAgentContext]:
    """The book assistant running on `model`."""
    return Agent[BookAgentContext](
        name="Book assistant",
        instructions=instructions,
        model=model,
        tools=[search_book, highlight_passage],
        tool_use_behavior=stop_at_client_tool,
        model_settings=ModelSettings(parallel_tool_calls=parallel_tool_calls),
    )
