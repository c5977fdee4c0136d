"""`OfflineBookModel`: an `agents` Model that runs here, with no network and no weights.

It is not a language model. It drives the same Agents SDK tool loop a real model
would: first it calls `search_book` with the reader's question; given the passages,
it streams an extractive answer (`extractive.py`) token by token, citing passages
as `[n]`, or says the book doesn't cover the question when the passages do not hold
its words; asked to show or highlight something, it also calls `highlight_passage`
for the best passage. It exists so the whole platform runs and is tested offline.

A follow-up ("tell me more", "why?", "what about the second one?", see `followup.py`)
is resolved against the previous turn of the input (the reader's question, the sources
card shown with the answer, the answer) before searching, and its answer prefers
sentences the previous answer did not already give.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

from agents import ModelResponse, ModelSettings, Tool, TResponseInputItem, Usage
from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import TResponseOutputItem, TResponseStreamEvent
from agents.models.interface import Model, ModelTracing
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam

from services.chat.models.extractive import (
    Passage,
    compose_answer,
    nothing_relevant,
    search_failed,
)
from services.chat.models.followup import (
    Earlier,
    card_sources,
    follow_up_queries,
    is_follow_up,
)
from services.chat.models.routing import TUTOR, quiz_topic, target_agent
from services.chat.tutor import QUIZ_TOOL

SEARCH_TOOL = "search_book"
HIGHLIGHT_TOOL = "highlight_passage"
# Context messages the converters add as user messages; they are not the question.
_CONTEXT_PREFIXES = (
    "The user is referring to this in particular",
    "Hidden context",
    "A card was shown",
    "The following graphical UI widget",
    "A message was displayed to the user",
    "# User-provided context",
)
_QUOTED_PREFIX = "The user is referring to this in particular:"
_CARD_PREFIX = "A card was shown to the reader:"
_SELECTION_NOTE = "The reader has selected a passage in the book"
_HIGHLIGHT_WORDS = re.compile(r"\b(highlight|show me where|scroll to|point me to|where in)\b", re.I)
_PAGE_WORDS = re.compile(r"\b(this|current) page\b", re.I)
_CHAPTER_WORDS = re.compile(r"\b(this|current) chapter\b", re.I)
_TOKEN = re.compile(r"\S+\s*|\s+")


@dataclass
class _Turn:
    """What the input says happened since the reader's last question."""

    question: str = ""
    quoted: str | None = None
    searches: list[dict[str, Any]] = field(default_factory=list)
    highlight_output: Any = None
    highlighted: bool = False
    queries: list[str] = field(default_factory=list)
    """What this turn's `search_book` call searched for."""
    earlier: Earlier | None = None
    """The previous turn, if the input has one."""
    sources: dict[int, str] = field(default_factory=dict)
    answer: str = ""
    quiz_output: Any = None
    """What this turn's `quiz_lesson` call returned."""


class OfflineBookModel(Model):
    """Extractive, tool-using stand-in for a language model (see the module docstring)."""

    def __init__(self, token_delay_ms: float = 0.0) -> None:
        self.token_delay = token_delay_ms / 1000

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        output = self._plan(input, tools, system_instructions, handoffs)
        return ModelResponse(output=output, usage=Usage(requests=1), response_id=None)

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        output = self._plan(input, tools, system_instructions, handoffs)
        seq = _Counter()
        response = _response(output)
        yield ResponseCreatedEvent(
            type="response.created",
            response=response.model_copy(update={"output": [], "status": "in_progress"}),
            sequence_number=seq(),
        )
        for index, item in enumerate(output):
            if isinstance(item, ResponseOutputMessage):
                async for event in self._stream_message(item, index, seq):
                    yield event
            elif isinstance(item, ResponseFunctionToolCall):
                for event in _function_call_events(item, index, seq):
                    yield event
        yield ResponseCompletedEvent(
            type="response.completed", response=response, sequence_number=seq()
        )

    # -- planning ------------------------------------------------------------

    def _plan(
        self,
        input: str | list[TResponseInputItem],
        tools: list[Tool],
        system_instructions: str | None = None,
        handoffs: list[Handoff] | None = None,
    ) -> list[Any]:
        turn = _read_turn(input)
        tool_names = {getattr(t, "name", "") for t in tools}
        if turn.highlight_output is not None:
            return [_message(_highlight_reply(turn.highlight_output))]
        if turn.quiz_output is not None:
            return [_message(_quiz_reply(turn.quiz_output))]
        if not turn.searches and turn.question:
            routed = _route(turn.question, tool_names, handoffs or [])
            if routed is not None:
                return [routed]
        # With a selection, "this" is the selected passage, not the conversation.
        selection = turn.quoted is not None or _SELECTION_NOTE in (system_instructions or "")
        follow_up = turn.earlier is not None and not selection and is_follow_up(turn.question)
        if not turn.searches:
            if SEARCH_TOOL not in tool_names or not turn.question:
                return [_message(nothing_relevant())]
            queries = [turn.question]
            if follow_up and turn.earlier is not None:
                queries = follow_up_queries(turn.question, turn.earlier)
            return [_call(SEARCH_TOOL, {"queries": queries, "search_scope": _scope(turn)})]
        if any("error" in s for s in turn.searches) and not _passages(turn):
            return [_message(search_failed())]
        passages = _passages(turn)
        question = " ".join(turn.queries) if follow_up and turn.queries else turn.question
        avoid = turn.earlier.answer if follow_up and turn.earlier is not None else ""
        answer = compose_answer(question, passages, hint=turn.quoted, avoid=avoid)
        output: list[Any] = [_message(answer)]
        cited = re.findall(r"\[(\d+)\]", answer)
        if (
            cited
            and HIGHLIGHT_TOOL in tool_names
            and not turn.highlighted
            and _HIGHLIGHT_WORDS.search(turn.question)
        ):
            output.append(_call(HIGHLIGHT_TOOL, {"passage": int(cited[0])}))
        return output

    async def _stream_message(
        self, item: ResponseOutputMessage, index: int, seq: _Counter
    ) -> AsyncIterator[TResponseStreamEvent]:
        part = cast(ResponseOutputText, item.content[0])
        yield ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            item=item.model_copy(update={"content": [], "status": "in_progress"}),
            output_index=index,
            sequence_number=seq(),
        )
        yield ResponseContentPartAddedEvent(
            type="response.content_part.added",
            item_id=item.id,
            output_index=index,
            content_index=0,
            part=part.model_copy(update={"text": ""}),
            sequence_number=seq(),
        )
        for n, token in enumerate(_TOKEN.findall(part.text)):
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            elif n % 16 == 15:
                await asyncio.sleep(0)  # stay fair to other streams at zero delay
            yield ResponseTextDeltaEvent(
                type="response.output_text.delta",
                item_id=item.id,
                output_index=index,
                content_index=0,
                delta=token,
                logprobs=[],
                sequence_number=seq(),
            )
        yield ResponseTextDoneEvent(
            type="response.output_text.done",
            item_id=item.id,
            output_index=index,
            content_index=0,
            text=part.text,
            logprobs=[],
            sequence_number=seq(),
        )
        yield ResponseContentPartDoneEvent(
            type="response.content_part.done",
            item_id=item.id,
            output_index=index,
            content_index=0,
            part=part,
            sequence_number=seq(),
        )
        yield ResponseOutputItemDoneEvent(
            type="response.output_item.done", item=item, output_index=index, sequence_number=seq()
        )


class _Counter:
    def __init__(self) -> None:
        self.value = -1

    def __call__(self) -> int:
        self.value += 1
        return self.value


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for part in content or []:
        text = _field(part, "text")
        if isinstance(text, str):
            parts.append(text)
    return "".join(parts)


def _read_turn(input: str | list[TResponseInputItem]) -> _Turn:
    if isinstance(input, str):
        return _Turn(question=input.strip())
    turn = _Turn()
    calls: dict[str, str] = {}
    for item in input:
        kind = _field(item, "type")
        role = _field(item, "role")
        if role == "user" and kind in (None, "message"):
            text = _text_of(_field(item, "content")).strip()
            if text.startswith(_QUOTED_PREFIX):
                turn.quoted = text[len(_QUOTED_PREFIX) :].strip()
            elif text.startswith(_CARD_PREFIX):
                turn.sources.update(card_sources(text[len(_CARD_PREFIX) :]))
            elif text and not text.startswith(_CONTEXT_PREFIXES):
                # A new question: what happened before it belongs to earlier turns.
                turn = _Turn(question=text, quoted=None, earlier=_earlier(turn))
                calls = {}
        elif role == "assistant" and kind in (None, "message"):
            turn.answer = _text_of(_field(item, "content")).strip() or turn.answer
        elif kind == "function_call":
            calls[str(_field(item, "call_id"))] = str(_field(item, "name"))
            if _field(item, "name") == HIGHLIGHT_TOOL:
                turn.highlighted = True
            elif _field(item, "name") == SEARCH_TOOL:
                queries = _json(_field(item, "arguments")).get("queries")
                if isinstance(queries, list):
                    turn.queries = [str(q) for q in queries]
        elif kind == "function_call_output":
            name = calls.get(str(_field(item, "call_id")))
            output = _field(item, "output")
            if name == SEARCH_TOOL:
                turn.searches.append(_json(output))
            elif name == HIGHLIGHT_TOOL:
                turn.highlight_output = _json(output) if output is not None else {}
            elif name == QUIZ_TOOL:
                turn.quiz_output = _json(output) if output is not None else {}
    return turn


def _earlier(turn: _Turn) -> Earlier | None:
    """What a new question can lean on from `turn`, the one before it."""
    if not turn.question:
        return None
    topic = turn.question
    if turn.earlier is not None and is_follow_up(turn.question):
        topic = " ".join(follow_up_queries(turn.question, turn.earlier)[-1:])
    return Earlier(topic=topic, answer=turn.answer, sources=turn.sources)


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, list):  # structured tool output: [{"type": "input_text", "text": ...}]
        value = _text_of(value)
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        return {"error": str(value)[:500]}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _passages(turn: _Turn) -> list[Passage]:
    seen: dict[int, Passage] = {}
    for search in turn.searches:
        for p in search.get("passages") or []:
            if isinstance(p, dict) and isinstance(p.get("n"), int):
                seen.setdefault(
                    p["n"],
                    Passage(
                        n=p["n"],
                        text=str(p.get("text", "")),
                        title=str(p.get("title") or ""),
                        section=str(p.get("section") or ""),
                    ),
                )
    return list(seen.values())


def _scope(turn: _Turn) -> str:
    if _PAGE_WORDS.search(turn.question):
        return "current_page"
    if _CHAPTER_WORDS.search(turn.question):
        return "current_chapter"
    return "full_book"


def _route(question: str, tool_names: set[str], handoffs: list[Handoff]) -> Any | None:
    """The call that serves `question` when this agent should not answer it with a
    search: the quiz tool, or the handoff to the agent `routing.py` picks."""
    target = target_agent(question)
    if target == TUTOR and QUIZ_TOOL in tool_names:
        return _call(QUIZ_TOOL, {"topic": quiz_topic(question), "questions": 3})
    serves = QUIZ_TOOL if target == TUTOR else SEARCH_TOOL
    if serves in tool_names:
        return None
    for option in handoffs:
        if option.agent_name == target:
            return _call(option.tool_name, {})
    return None


def _quiz_reply(output: Any) -> str:
    if isinstance(output, dict) and output.get("asked"):
        return "Which chapter would you like the quiz on? Pick one above."
    if isinstance(output, dict) and output.get("shown"):
        return (
            f"Here is a quiz on {output.get('lesson') or 'this lesson'}: fill in the missing "
            "word of each sentence, then press “Check my answers”."
        )
    return "I couldn't write a quiz on this lesson just now; ask me about it instead."


def _highlight_reply(output: Any) -> str:
    if isinstance(output, dict) and (output.get("error") or output.get("ok") is False):
        return "I couldn't highlight that passage on the page, but the citation above links to it."
    return "I've highlighted the passage on the page for you."


def _message(text: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        id=f"msg_offline_{uuid.uuid4().hex[:12]}",
        type="message",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(type="output_text", text=text, annotations=[], logprobs=[])],
    )


def _call(name: str, arguments: dict[str, Any]) -> ResponseFunctionToolCall:
    call_id = f"call_offline_{uuid.uuid4().hex[:12]}"
    return ResponseFunctionToolCall(
        id=f"fc_offline_{uuid.uuid4().hex[:12]}",
        call_id=call_id,
        type="function_call",
        name=name,
        arguments=json.dumps(arguments),
        status="completed",
    )


def _function_call_events(
    item: ResponseFunctionToolCall, index: int, seq: _Counter
) -> list[TResponseStreamEvent]:
    return [
        ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            item=item.model_copy(update={"arguments": "", "status": "in_progress"}),
            output_index=index,
            sequence_number=seq(),
        ),
        ResponseFunctionCallArgumentsDeltaEvent(
            type="response.function_call_arguments.delta",
            item_id=item.id or item.call_id,
            output_index=index,
            delta=item.arguments,
            sequence_number=seq(),
        ),
        ResponseFunctionCallArgumentsDoneEvent.model_validate(
            {
                "type": "response.function_call_arguments.done",
                "item_id": item.id or item.call_id,
                "output_index": index,
                "arguments": item.arguments,
                "name": item.name,
                "sequence_number": seq(),
            }
        ),
        ResponseOutputItemDoneEvent(
            type="response.output_item.done", item=item, output_index=index, sequence_number=seq()
        ),
    ]


def _response(output: list[TResponseOutputItem]) -> Response:
    return Response(
        id=f"resp_offline_{uuid.uuid4().hex[:12]}",
        created_at=0,
        model="offline-extractive",
        object="response",
        output=output,
        tool_choice="auto",
        tools=[],
        top_p=None,
        parallel_tool_calls=False,
        status="completed",
    )
