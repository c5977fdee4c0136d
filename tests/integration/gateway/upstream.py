"""A real ChatKit server standing in for the chat service while testing the gateway.

`PacedServer` is a `chatkit.server.ChatKitServer` whose `respond()` streams a
progress update, an assistant message as text deltas at a controllable pace, a
citation (URL annotation into the book), a sources widget and, when asked to
highlight, the `highlight_passage` client tool call. Threads and items live in
the real store service (`HttpStore`), so the gateway's ownership checks and the
threads the server creates agree. Knobs and observations are on `Control`.

Run as a process (`python -m tests.integration.gateway.upstream --port N`) it
also serves the benchmark firehose: `metadata.bench = {"events": n, "interval_ms": t}`
on a `threads.create` answers with `n` canned ~170-byte ChatKit events, no store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import anyio
import uvicorn
from chatkit.server import ChatKitServer, StreamingResult, stream_widget
from chatkit.store import NotFoundError
from chatkit.types import (
    Annotation,
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartAnnotationAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ClientToolCallItem,
    DurationSummary,
    ProgressUpdateEvent,
    SearchTask,
    StructuredInputFreeform,
    StructuredInputItem,
    StructuredInputMultipleChoice,
    StructuredInputMultipleChoiceOption,
    ThoughtTask,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    URLSource,
    UserMessageItem,
    UserMessageTextContent,
    WidgetItem,
    Workflow,
    WorkflowItem,
    WorkflowTaskAdded,
    WorkflowTaskUpdated,
)
from chatkit.widgets import DynamicWidgetRoot, WidgetRoot
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from services.chat.store_client import HttpStore
from shared.contracts.common import USER_ID_HEADER
from shared.http import ServiceHttp

CITED_PAGE = "02-asking-the-assistant/01-page-context-and-selection"
CITED_ANCHOR = "the-page_context-object"
CITED_URL = f"/book/{CITED_PAGE}#{CITED_ANCHOR}"
CITED_TEXT = "`page_context` describes the reader's position."


@dataclass
class Control:
    """What the test upstream does, and what it saw. Tests mutate and read it directly."""

    deltas: int = 5
    """Text deltas per answer."""
    interval_s: float = 0.0
    """Pause before each delta."""
    header_delay_s: float = 0.0
    """Pause before answering at all (to test a disconnect before the first byte)."""
    cited_url: str = CITED_URL
    """The URL of the answer's citation."""
    highlight_document_id: str = CITED_PAGE
    """The `document_id` a `highlight_passage` call names."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Every request body received, parsed, with `_user` and `_headers` added."""
    deltas_sent: int = 0
    """Deltas yielded so far (all answers)."""
    cancelled_at: float | None = None
    """`time.monotonic()` when a running answer saw its cancellation."""
    saved_partial: str | None = None
    """Text of the partial answer saved after a cancellation."""
    gone_before_headers_at: float | None = None
    """`time.monotonic()` when the caller went away during `header_delay_s`."""
    widget_gate: threading.Event = field(default_factory=threading.Event)
    """A streamed widget ("stream a widget") or workflow ("show your work") waits for this
    before its last state."""
    fail_after_deltas: int | None = None
    """The next answer fails (the SDK sends an `error` event) after this many deltas."""

    def reset(self) -> None:
        self.deltas, self.interval_s, self.header_delay_s = 5, 0.0, 0.0
        self.cited_url, self.highlight_document_id = CITED_URL, CITED_PAGE
        self.requests.clear()
        self.deltas_sent = 0
        self.cancelled_at = self.saved_partial = self.gone_before_headers_at = None
        self.widget_gate.clear()
        self.fail_after_deltas = None


def answer_words(n: int) -> list[str]:
    return [f"word{i} " for i in range(n)]


class PacedServer(ChatKitServer[dict[str, Any]]):
    """ChatKit server with a scripted, paced answer."""

    def __init__(self, store: HttpStore, control: Control) -> None:
        super().__init__(store)
        self.control = control

    async def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: dict[str, Any],
    ) -> AsyncIterator[ThreadStreamEvent]:
        c = self.control
        question = ""
        if input_user_message is not None:
            question = " ".join(
                p.text for p in input_user_message.content if isinstance(p, UserMessageTextContent)
            )
        if thread.title is None and question:
            thread.title = question[:40]
        yield ProgressUpdateEvent(text="Searching the book…")
        if "stream a widget" in question.lower():
            async for event in stream_widget(
                thread,
                self._counting(),
                generate_id=lambda kind: self.store.generate_item_id(kind, thread, context),
            ):
                yield event
            return
        if "show your work" in question.lower():
            async for event in self._workflow(thread, context):
                yield event
            return
        if "ask me first" in question.lower():
            yield ThreadItemDoneEvent(item=self._questions(thread, context))
            return
        item_id = self.store.generate_item_id("message", thread, context)
        now = datetime.now()
        if input_user_message is None:  # after a client tool output or the reader's answers
            done = AssistantMessageItem(
                id=item_id,
                thread_id=thread.id,
                created_at=now,
                content=[AssistantMessageContent(text=await self._after(thread, context))],
            )
            yield ThreadItemDoneEvent(item=done)
            return
        item = AssistantMessageItem(id=item_id, thread_id=thread.id, created_at=now, content=[])
        yield ThreadItemAddedEvent(item=item)
        yield ThreadItemUpdatedEvent(
            item_id=item_id,
            update=AssistantMessageContentPartAdded(
                content_index=0, content=AssistantMessageContent(text="")
            ),
        )
        text = ""
        try:
            for n, word in enumerate(answer_words(c.deltas)):
                if n == c.fail_after_deltas:
                    c.fail_after_deltas = None  # once: a retry answers
                    raise RuntimeError("the scripted failure of this answer")
                if c.interval_s:
                    await asyncio.sleep(c.interval_s)
                text += word
                c.deltas_sent += 1
                yield ThreadItemUpdatedEvent(
                    item_id=item_id,
                    update=AssistantMessageContentPartTextDelta(content_index=0, delta=word),
                )
        except asyncio.CancelledError:
            c.cancelled_at = time.monotonic()
            raise
        annotation = Annotation(
            source=URLSource(url=c.cited_url, title="Page context and selected text"),
            index=len(text),
        )
        yield ThreadItemUpdatedEvent(
            item_id=item_id,
            update=AssistantMessageContentPartAnnotationAdded(
                content_index=0, annotation_index=0, annotation=annotation
            ),
        )
        content = AssistantMessageContent(text=text, annotations=[annotation])
        yield ThreadItemUpdatedEvent(
            item_id=item_id,
            update=AssistantMessageContentPartDone(content_index=0, content=content),
        )
        yield ThreadItemDoneEvent(item=item.model_copy(update={"content": [content]}))
        widget = DynamicWidgetRoot.model_validate(
            {
                "type": "Card",
                "children": [
                    {"type": "Title", "value": "Sources from the book"},
                    {"type": "Text", "value": "[1] Page context and selected text"},
                    {
                        "type": "Button",
                        "label": "Show more from chapter 2",
                        "onClickAction": {"type": "sources.more", "payload": {"chapter": 2}},
                    },
                ],
            }
        )
        yield ThreadItemDoneEvent(
            item=WidgetItem(
                id=self.store.generate_item_id("message", thread, context),
                thread_id=thread.id,
                created_at=datetime.now(),
                widget=widget,
            )
        )
        if "highlight" in question.lower():
            yield ThreadItemDoneEvent(
                item=ClientToolCallItem(
                    id=self.store.generate_item_id("tool_call", thread, context),
                    thread_id=thread.id,
                    created_at=datetime.now(),
                    call_id=f"call_{item_id}",
                    name="highlight_passage",
                    arguments={
                        "passage": 1,
                        "document_id": c.highlight_document_id,
                        "url": CITED_URL,
                        "text": CITED_TEXT,
                    },
                )
            )

    def _questions(self, thread: ThreadMetadata, context: dict[str, Any]) -> StructuredInputItem:
        """A request for the reader's answers ("ask me first"): a choice and free text."""
        chapters = ["Getting started", "Asking the assistant", "Models"]
        return StructuredInputItem(
            id=self.store.generate_item_id("message", thread, context),
            thread_id=thread.id,
            created_at=datetime.now(),
            inputs=[
                StructuredInputMultipleChoice(
                    id="chapter",
                    question="Which chapter?",
                    options=[StructuredInputMultipleChoiceOption(value=c) for c in chapters],
                ),
                StructuredInputFreeform(
                    id="why", question="What do you want to know?", description="A sentence."
                ),
            ],
        )

    async def _after(self, thread: ThreadMetadata, context: dict[str, Any]) -> str:
        """The reply after a turn that had no new message: to the reader's structured
        answers if those came last, else to a client tool's output."""
        last = await self.store.load_thread_items(thread.id, None, 1, "desc", context)
        item = last.data[0] if last.data else None
        if not isinstance(item, StructuredInputItem):
            return "Highlighted it in the book."
        said = []
        for q in item.inputs:
            answer = q.answer
            values = answer.values if answer else []
            said.append(f"{q.question} " + (", ".join(values) if values else "skipped"))
        return f"Thanks ({item.status}): " + "; ".join(said)

    async def _workflow(
        self, thread: ThreadMetadata, context: dict[str, Any]
    ) -> AsyncIterator[ThreadStreamEvent]:
        """A workflow of two tasks, streamed; it waits for `Control.widget_gate` to end."""
        item = WorkflowItem(
            id=self.store.generate_item_id("workflow", thread, context),
            thread_id=thread.id,
            created_at=datetime.now(),
            workflow=Workflow(type="custom", tasks=[]),
        )
        yield ThreadItemAddedEvent(item=item)
        thought = ThoughtTask(title="Reading the question", content="It asks about **scopes**.")
        loading = thought.model_copy(update={"status_indicator": "loading"})
        search = SearchTask(
            title="Searching the book",
            queries=["search scopes"],
            sources=[URLSource(url=CITED_URL, title="Search scopes")],
            status_indicator="complete",
        )
        done = thought.model_copy(update={"status_indicator": "complete"})
        for update in (
            WorkflowTaskAdded(task_index=0, task=loading),
            WorkflowTaskUpdated(task_index=0, task=done),
            WorkflowTaskAdded(task_index=1, task=search),
        ):
            yield ThreadItemUpdatedEvent(item_id=item.id, update=update)
        await asyncio.to_thread(self.control.widget_gate.wait, 60)
        final = Workflow(type="custom", tasks=[done, search], summary=DurationSummary(duration=3))
        yield ThreadItemDoneEvent(item=item.model_copy(update={"workflow": final}))

    async def _counting(self) -> AsyncGenerator[WidgetRoot, None]:
        """A widget streamed in three states; the last waits for `Control.widget_gate`."""
        for words in ("one", "one two"):
            yield _count_card(words)
        await asyncio.to_thread(self.control.widget_gate.wait, 60)
        yield _count_card("one two three")

    async def handle_stream_cancelled(
        self, thread: ThreadMetadata, pending_items: list[ThreadItem], context: dict[str, Any]
    ) -> None:
        # The disconnect cancels through an anyio scope that re-cancels every await:
        # the save must be shielded or it never reaches the store.
        with anyio.CancelScope(shield=True):
            await super().handle_stream_cancelled(thread, pending_items, context)
        for item in pending_items:
            if isinstance(item, AssistantMessageItem) and item.content:
                self.control.saved_partial = item.content[0].text


def _count_card(words: str) -> WidgetRoot:
    root = DynamicWidgetRoot.model_validate(
        {"type": "Card", "children": [{"type": "Text", "id": "count", "value": words}]}
    )
    return cast(WidgetRoot, root)


# -- the benchmark firehose -------------------------------------------------------

_CANNED = (
    b'data: {"type":"thread.item.updated","item_id":"msg_0123456789abcdef",'
    b'"update":{"type":"assistant_message.content_part.text_delta","content_index":0,'
    b'"delta":"a few words of the answer "}}\n\n'
)


async def firehose(events: int, interval_s: float) -> AsyncIterator[bytes]:
    """`events` canned text-delta events (about 170 bytes each), one write each, paced or not."""
    for n in range(events):
        if interval_s > 0:
            await asyncio.sleep(interval_s)
        elif n % 16 == 15:
            await asyncio.sleep(0)  # let other streams run, as a real producer would
        yield _CANNED


# -- the app --------------------------------------------------------------------


class _Asgi:
    """A raw ASGI endpoint for a Route (plain functions are taken as request handlers)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def create_app(store_url: str | None, control: Control | None = None) -> Starlette:
    """The upstream app; without `store_url` only the firehose works."""
    control = control or Control()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = ServiceHttp(store_url or "http://127.0.0.1:1", service="store", token=None)
        state["server"] = PacedServer(HttpStore(client), control)
        try:
            yield
        finally:
            await client.aclose()

    async def chatkit_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body = await request.body()
        parsed = json.loads(body)
        bench = (parsed.get("metadata") or {}).get("bench")
        if bench:
            stream = firehose(int(bench["events"]), float(bench.get("interval_ms", 0)) / 1000)
            response: Response = StreamingResponse(stream, media_type="text/event-stream")
            await response(scope, receive, send)
            return
        user_id = request.headers.get(USER_ID_HEADER, "")
        parsed["_user"] = user_id
        parsed["_headers"] = dict(request.headers)
        control.requests.append(parsed)
        if control.header_delay_s:
            try:
                with anyio.fail_after(control.header_delay_s):
                    while (await receive())["type"] != "http.disconnect":
                        pass
                control.gone_before_headers_at = time.monotonic()
                return
            except TimeoutError:
                pass
        context = {"user_id": user_id, "metadata": parsed.get("metadata", {})}
        try:
            result = await state["server"].process(body, context)
        except NotFoundError as exc:
            response = JSONResponse({"error": {"code": "not_found", "message": str(exc)}}, 404)
        else:
            if isinstance(result, StreamingResult):
                response = StreamingResponse(result, media_type="text/event-stream")
            else:
                response = Response(result.json, media_type="application/json")
        await response(scope, receive, send)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/chatkit", _Asgi(chatkit_endpoint), methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.control = control
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store-url", default=None)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.store_url),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=20,  # as the chat service: longer than the gateway's pool keeps idle
    )


if __name__ == "__main__":
    main()
