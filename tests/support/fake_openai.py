"""A fake OpenAI-compatible server: scripted Responses API and Chat Completions streams.

Tests script what the "model" says next (`add_text`, `add_tool_call`, or both in one
step); each request to `/v1/responses` or `/v1/chat/completions` takes the next step,
streams it in the real wire format (SSE events / chunks) and is recorded for asserts.
`/v1/audio/transcriptions` (multipart, as the `openai` SDK sends it) answers the next of
`transcripts` (`add_transcript`), or fails with the status scripted in its place.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Text:
    text: str
    message_id: str | None = None
    """Fixed id for the message (to imitate servers that reuse ids); default unique."""


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    call_id: str | None = None


@dataclass
class AudioUpload:
    """One `/audio/transcriptions` request as the fake received it."""

    model: str
    filename: str
    content_type: str
    data: bytes
    response_format: str | None


@dataclass
class FakeOpenAI:
    """Scripted model behind both OpenAI wire APIs."""

    steps: deque[list[Text | ToolCall]] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    response_ids: list[str] = field(default_factory=list)
    """Ids of the Responses API responses sent, in order."""
    transcripts: deque[str | int] = field(default_factory=deque)
    """What the next transcription requests answer: a text, or an HTTP status to fail with."""
    uploads: list[AudioUpload] = field(default_factory=list)
    """The transcription requests received, in order."""
    hold: threading.Event | None = None
    """When set here, a streamed Responses answer pauses after its first text delta until
    the event is set (a test acts mid-answer)."""
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def add(self, *parts: Text | ToolCall) -> None:
        """Script the next response: its output items in order."""
        self.steps.append(list(parts))

    def add_text(self, text: str, **kwargs: Any) -> None:
        self.add(Text(text, **kwargs))

    def add_tool_call(self, name: str, arguments: dict[str, Any], **kwargs: Any) -> None:
        self.add(ToolCall(name, arguments, **kwargs))

    def add_transcript(self, answer: str | int) -> None:
        """Script the next transcription: its text, or a status (`500`) to fail with."""
        self.transcripts.append(answer)

    def next_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):04d}"

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/responses", self._responses, methods=["POST"]),
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/audio/transcriptions", self._transcriptions, methods=["POST"]),
            ]
        )

    def _take(self, request: Request, body: dict[str, Any]) -> list[Text | ToolCall] | None:
        self.requests.append(body)
        self.paths.append(request.url.path)
        return self.steps.popleft() if self.steps else None

    # -- Audio transcriptions ----------------------------------------------------

    async def _transcriptions(self, request: Request) -> Response:
        self.paths.append(request.url.path)
        self.uploads.append(await _read_upload(request))
        if not self.transcripts:
            return _error(500, "no transcript scripted")
        answer = self.transcripts.popleft()
        if isinstance(answer, int):
            return _error(answer, "scripted failure")
        return JSONResponse({"text": answer})

    # -- Responses API -----------------------------------------------------------

    async def _responses(self, request: Request) -> Response:
        body = await request.json()
        step = self._take(request, body)
        if step is None:
            return _error(500, "fake OpenAI: no scripted response left")
        response_id = self.next_id("resp")
        self.response_ids.append(response_id)
        output = [self._output_item(part) for part in step]
        final = _response(response_id, body.get("model", "fake"), output)
        if not body.get("stream"):
            return JSONResponse(final)
        return StreamingResponse(
            self._held(_sse(self._response_events(response_id, body, output, final))),
            media_type="text/event-stream",
        )

    async def _held(self, frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for frame in frames:
            yield frame
            if self.hold is not None and b'"response.output_text.delta"' in frame:
                await asyncio.to_thread(self.hold.wait, 60)

    def _output_item(self, part: Text | ToolCall) -> dict[str, Any]:
        if isinstance(part, Text):
            return {
                "type": "message",
                "id": part.message_id or self.next_id("msg"),
                "role": "assistant",
                "status": "completed",
                "content": [
                    {"type": "output_text", "text": part.text, "annotations": [], "logprobs": []}
                ],
            }
        call_id = part.call_id or self.next_id("call")
        return {
            "type": "function_call",
            "id": self.next_id("fc"),
            "call_id": call_id,
            "name": part.name,
            "arguments": json.dumps(part.arguments),
            "status": "completed",
        }

    def _response_events(
        self,
        response_id: str,
        body: dict[str, Any],
        output: list[dict[str, Any]],
        final: dict[str, Any],
    ) -> list[dict[str, Any]]:
        seq = itertools.count()
        start = {**final, "status": "in_progress", "output": [], "usage": None}
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": start, "sequence_number": next(seq)},
            {"type": "response.in_progress", "response": start, "sequence_number": next(seq)},
        ]
        for index, item in enumerate(output):
            base = {"output_index": index}
            if item["type"] == "message":
                text = item["content"][0]["text"]
                empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                ids = {**base, "item_id": item["id"], "content_index": 0}
                events.append(
                    {
                        "type": "response.output_item.added",
                        **base,
                        "item": {**item, "status": "in_progress", "content": []},
                    }
                )
                events.append({"type": "response.content_part.added", **ids, "part": empty})
                for token in _tokens(text):
                    events.append(
                        {
                            "type": "response.output_text.delta",
                            **ids,
                            "delta": token,
                            "logprobs": [],
                        }
                    )
                events.append(
                    {"type": "response.output_text.done", **ids, "text": text, "logprobs": []}
                )
                events.append(
                    {"type": "response.content_part.done", **ids, "part": item["content"][0]}
                )
            else:
                ids = {**base, "item_id": item["id"]}
                events.append(
                    {
                        "type": "response.output_item.added",
                        **base,
                        "item": {**item, "arguments": "", "status": "in_progress"},
                    }
                )
                events.append(
                    {
                        "type": "response.function_call_arguments.delta",
                        **ids,
                        "delta": item["arguments"],
                    }
                )
                events.append(
                    {
                        "type": "response.function_call_arguments.done",
                        **ids,
                        "arguments": item["arguments"],
                        "name": item["name"],
                    }
                )
            events.append({"type": "response.output_item.done", **base, "item": item})
        events.append({"type": "response.completed", "response": final})
        for event in events[2:]:
            event["sequence_number"] = next(seq)
        return events

    # -- Chat Completions ----------------------------------------------------------

    async def _chat_completions(self, request: Request) -> Response:
        body = await request.json()
        step = self._take(request, body)
        if step is None:
            return _error(500, "fake OpenAI: no scripted response left")
        completion_id = self.next_id("chatcmpl")
        model = body.get("model", "fake")
        text = "".join(p.text for p in step if isinstance(p, Text))
        calls = [p for p in step if isinstance(p, ToolCall)]
        call_ids = [c.call_id or self.next_id("call") for c in calls]
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text or None}
            if calls:
                message["tool_calls"] = [
                    _tool_call(cid, c) for cid, c in zip(call_ids, calls, strict=True)
                ]
            return JSONResponse(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": 0,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "finish_reason": "tool_calls" if calls else "stop",
                        }
                    ],
                    "usage": _chat_usage(),
                }
            )

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        chunks = [chunk({"role": "assistant", "content": ""})]
        chunks += [chunk({"content": token}) for token in _tokens(text)]
        for index, (cid, call) in enumerate(zip(call_ids, calls, strict=True)):
            arguments = json.dumps(call.arguments)
            head = {
                "index": index,
                "id": cid,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            chunks.append(chunk({"tool_calls": [head]}))
            half = len(arguments) // 2
            for piece in (arguments[:half], arguments[half:]):
                chunks.append(
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                )
        chunks.append(chunk({}, "tool_calls" if calls else "stop"))
        chunks.append(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [],
                "usage": _chat_usage(),
            }
        )
        return StreamingResponse(_sse(chunks, done=True), media_type="text/event-stream")


async def _read_upload(request: Request) -> AudioUpload:
    async with request.form() as form:
        file = form["file"]
        assert isinstance(file, UploadFile), "the audio is sent as a file part"
        response_format = form.get("response_format")
        return AudioUpload(
            model=str(form["model"]),
            filename=file.filename or "",
            content_type=file.content_type or "",
            data=await file.read(),
            response_format=str(response_format) if response_format is not None else None,
        )


def _tool_call(call_id: str, call: ToolCall) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
    }


def _tokens(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if n < len(words) - 1 else "") for n, w in enumerate(words)]


def _response(response_id: str, model: str, output: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": 0,
        "model": model,
        "status": "completed",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "temperature": 1.0,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "total_tokens": 15,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def _chat_usage() -> dict[str, Any]:
    return {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


async def _sse(events: list[dict[str, Any]], done: bool = False) -> Any:
    for event in events:
        prefix = f"event: {event['type']}\n" if "type" in event and not done else ""
        yield f"{prefix}data: {json.dumps(event)}\n\n".encode()
    if done:
        yield b"data: [DONE]\n\n"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "server_error"}}, status_code=status)
