"""The agent's tools: `search_book` (server) and `highlight_passage` (client)."""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from agents import FunctionToolResult, RunContextWrapper, ToolsToFinalOutputResult, function_tool
from chatkit.agents import ClientToolCall
from chatkit.types import ProgressUpdateEvent

from services.chat.citations import passages_payload
from services.chat.context import BookAgentContext
from services.chat.widgets import MorePayload, copy_text, sources_card
from shared.contracts.common import PageContext
from shared.contracts.retrieval import MAX_QUERIES, SearchHit, SearchRequest, SearchScope

logger = logging.getLogger(__name__)

HIGHLIGHT_TOOL = "highlight_passage"
SELECTED_TEXT_HINT_CHARS = 300
_SCOPE_LABEL = {
    "current_page": "this page",
    "current_chapter": "this chapter",
    "full_book": "the book",
}


def effective_scope(requested: SearchScope, page: PageContext) -> SearchScope:
    """`requested`, widened when the reader's position does not define it."""
    if requested == "current_page" and not page.current_page:
        requested = "current_chapter"
    if requested == "current_chapter" and page.current_chapter is None:
        requested = "full_book"
    return requested


def search_queries(queries: list[str], selected_text: str | None) -> list[str]:
    """Cleaned, de-duplicated phrasings, plus the reader's selection as a hint."""
    out: list[str] = []
    for query in queries:
        query = " ".join(query.split())[:2000]
        if query and query.lower() not in {q.lower() for q in out}:
            out.append(query)
    out = out[: MAX_QUERIES - 1]
    if selected_text:
        out.append(" ".join(selected_text.split())[:SELECTED_TEXT_HINT_CHARS])
    return out


async def mentioned_hits(agent_ctx: BookAgentContext, phrasings: list[str]) -> list[SearchHit]:
    """The best passages inside each chapter or page the reader's message mentions."""
    hits: list[SearchHit] = []
    for mention in agent_ctx.mentions:
        scope, page = mention.scope()
        request = SearchRequest(
            queries=phrasings,
            scope=scope,
            page_context=page,
            top_k=agent_ctx.top_k,
            corpus=agent_ctx.corpus,
        )
        hits += (await agent_ctx.search.search(request)).results
    return hits


def first_mentioned(
    mentioned: list[SearchHit], rest: list[SearchHit], top_k: int
) -> list[SearchHit]:
    """Passages from mentioned chapters and pages first (at most `top_k - 2` of them, so
    the rest of the book still gets a word in), then the others, each passage once."""
    chosen: list[SearchHit] = []
    seen: set[str] = set()
    for hit in mentioned:
        if len(chosen) >= max(1, top_k - 2):
            break
        if hit.chunk_id not in seen:
            seen.add(hit.chunk_id)
            chosen.append(hit)
    for hit in rest:
        if len(chosen) >= top_k:
            break
        if hit.chunk_id not in seen:
            seen.add(hit.chunk_id)
            chosen.append(hit)
    return chosen


@function_tool(name_override="search_book")
async def search_book(
    ctx: RunContextWrapper[BookAgentContext],
    queries: list[str],
    search_scope: Literal["current_page", "current_chapter", "full_book"],
) -> str:
    """Search the book for passages that answer the reader's question.

    Args:
        queries: One to five phrasings of what to look for: the question, and keywords or
            alternative wordings of it.
        search_scope: `current_page` for the page the reader has open, `current_chapter`
            for their chapter, `full_book` for everything (passages near the reader rank
            higher).
    """
    agent_ctx = ctx.context
    reader = agent_ctx.reader
    scope = effective_scope(search_scope, reader.page_context)
    phrasings = search_queries(queries, reader.selected_text)
    if not phrasings:
        return json.dumps({"error": "No query given; pass the reader's question.", "passages": []})
    await agent_ctx.stream(
        ProgressUpdateEvent(icon="search", text=f"Searching {_SCOPE_LABEL[scope]}…")
    )
    request = SearchRequest(
        queries=phrasings,
        scope=scope,
        page_context=reader.page_context,
        top_k=agent_ctx.top_k,
        corpus=agent_ctx.corpus,
    )
    try:
        response = await agent_ctx.search.search(request)
        mentioned = await mentioned_hits(agent_ctx, phrasings)
    except Exception as exc:  # any failure is the model's to explain, not a crash
        logger.warning("book search failed: %r", exc)
        return json.dumps(
            {
                "error": "The book search service is unavailable right now, so no passages "
                "could be retrieved. Tell the reader you could not search the book and "
                "suggest trying again shortly; do not answer from memory.",
                "passages": [],
            }
        )
    hits = first_mentioned(mentioned, response.results, agent_ctx.top_k)
    numbered = {agent_ctx.number_for(hit): hit for hit in hits}
    new = [(n, hit) for n, hit in numbered.items() if hit.chunk_id not in agent_ctx.shown_chunks]
    if new:
        agent_ctx.shown_chunks.extend(hit.chunk_id for _, hit in new)
        chapter = reader.page_context.current_chapter
        if chapter is None:
            chapter = new[0][1].source.chapter
        more = MorePayload(query=phrasings[0], chapter=chapter, shown=list(agent_ctx.shown_chunks))
        await agent_ctx.stream_widget(sources_card(new, more=more), copy_text=copy_text(new))
    payload = passages_payload(numbered, response.scope)
    if not numbered:
        payload = json.dumps(
            {
                "scope": response.scope,
                "passages": [],
                "note": "Nothing in the book matched. Say plainly that the book does not "
                "cover this; do not answer from general knowledge.",
            }
        )
    return payload


@function_tool(name_override=HIGHLIGHT_TOOL)
async def highlight_passage(ctx: RunContextWrapper[BookAgentContext], passage: int) -> str:
    """Scroll the reader's book view to a cited passage and highlight it.

    Call it after answering, when the reader wants to see where something is in the book.

    Args:
        passage: The number of a passage returned by search_book (the n in [n]).
    """
    hit = ctx.context.passages.get(passage)
    if hit is None:
        known = sorted(ctx.context.passages)
        return f"There is no passage {passage} in this reply; known passages: {known}."
    ctx.context.client_tool_call = ClientToolCall(
        name=HIGHLIGHT_TOOL,
        arguments={
            "passage": passage,
            "chunk_id": hit.chunk_id,
            "document_id": hit.source.document_id,
            "url": hit.source.url,
            "text": hit.text[:500],
        },
    )
    return "The reader's view is scrolling to the passage."


def stop_at_client_tool(
    ctx: RunContextWrapper[Any], results: list[FunctionToolResult]
) -> ToolsToFinalOutputResult:
    """End the run once a client tool call is handed to the frontend (ChatKit's rule:
    the frontend's output arrives in a later request, `threads.add_client_tool_output`)."""
    context = ctx.context
    if isinstance(context, BookAgentContext) and context.client_tool_call is not None:
        output = next((str(r.output) for r in results if r.tool.name == HIGHLIGHT_TOOL), "")
        return ToolsToFinalOutputResult(is_final_output=True, final_output=output)
    return ToolsToFinalOutputResult(is_final_output=False)
