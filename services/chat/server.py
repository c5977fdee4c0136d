"""`BookChatServer`: the ChatKit server of the book assistant."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

from agents import RunConfig, Runner, TResponseInputItem
from chatkit.actions import Action
from chatkit.agents import stream_agent_response
from chatkit.server import ChatKitServer, stream_widget
from chatkit.store import NotFoundError, Store
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    AudioInput,
    ClientToolCallItem,
    FeedbackKind,
    ProgressUpdateEvent,
    SDKHiddenContextItem,
    ThreadItem,
    ThreadItemDoneEvent,
    ThreadItemReplacedEvent,
    ThreadMetadata,
    ThreadRetryAfterItemParams,
    ThreadStreamEvent,
    TranscriptionResult,
    UserMessageItem,
    UserMessageTextContent,
    WidgetItem,
)
from pydantic import ValidationError

from services.chat.attachments import GatewayAttachmentStore
from services.chat.cancellation import finish_shielded
from services.chat.chat_store import ChatStore, distinct_ids
from services.chat.citations import annotate
from services.chat.context import BookAgentContext, RequestContext, SearchBackend
from services.chat.converter import BookThreadItemConverter
from services.chat.errors import Refused
from services.chat.history import load_history, select_history
from services.chat.mentions import Mention
from services.chat.models.ids import remap_item_ids
from services.chat.models.providers import ModelChoice
from services.chat.settings import ChatSettings
from services.chat.team import Team
from services.chat.tools import effective_scope
from services.chat.transcription import Transcriber
from services.chat.tutor import answer_quiz, is_quiz_action
from services.chat.widgets import (
    MORE_ACTION,
    MorePayload,
    copy_text,
    parse_more,
    sources_card,
    with_buttons_disabled,
)
from shared.contracts.retrieval import SearchRequest

logger = logging.getLogger(__name__)

PREVIOUS_RESPONSE_ID = "previous_response_id"
"""Thread metadata: the Responses API response the next turn continues."""
RESPONSE_CURSOR = "previous_response_last_item"
"""Thread metadata: the last thread item that response already contains."""
FEEDBACK = "feedback"
"""Thread metadata: item id -> `positive` / `negative`."""
TITLE_CHARS = 60


def title_from(message: UserMessageItem) -> str | None:
    """A thread title from the first message: its first words, cut at a word boundary."""
    text = " ".join(
        " ".join(part.text.split())
        for part in message.content
        if isinstance(part, UserMessageTextContent)
    ).strip()
    if not text:
        return None
    if len(text) <= TITLE_CHARS:
        return text
    return text[:TITLE_CHARS].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


class BookChatServer(ChatKitServer[RequestContext]):
    """Answers with the book assistant; keeps everything in the store given."""

    store: ChatStore

    def __init__(
        self,
        store: Store[Any],
        search: SearchBackend,
        model: ModelChoice,
        settings: ChatSettings,
        transcriber: Transcriber | None = None,
    ) -> None:
        super().__init__(ChatStore(store), attachment_store=GatewayAttachmentStore())
        self.search = search
        self.model = model
        self.settings = settings
        self.transcriber = transcriber
        self.team = Team(model.model)
        self.run_config = RunConfig(
            tracing_disabled=not settings.tracing_enabled,
            workflow_name="Book assistant",
        )

    async def transcribe(
        self, audio_input: AudioInput, context: RequestContext
    ) -> TranscriptionResult:
        """Dictation, when a speech model is configured (`transcription.py`); without one
        the SDK's own refusal, which `sdk.py` answers as `NotSupported` (400)."""
        if self.transcriber is None:
            return await super().transcribe(audio_input, context)
        return await self.transcriber.transcribe(audio_input)

    # -- replies ---------------------------------------------------------------

    async def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        mentions = context.mentions
        agent_ctx = BookAgentContext(
            thread=thread,
            store=self.store,
            request_context=context,
            search=self.search,
            corpus=self.settings.corpus,
            top_k=self.settings.search_top_k,
            mentions=list(mentions.values()),
        )
        model_input, previous_response_id = await self._model_input(
            thread, input_user_message, context, mentions
        )
        result = Runner.run_streamed(
            self.team.starting_agent(thread),
            model_input,
            context=agent_ctx,
            max_turns=self.settings.max_turns,
            run_config=self.run_config,
            previous_response_id=previous_response_id,
        )
        events = stream_agent_response(agent_ctx, result)
        events = remap_item_ids(
            events, lambda kind: self.store.generate_item_id(kind, thread, context)
        )
        last_item: ThreadItem | None = None
        before_last: ThreadItem | None = None
        try:
            async for event in annotate(events, agent_ctx.passages):
                if isinstance(event, ThreadItemDoneEvent):
                    before_last, last_item = last_item, event.item
                yield event
        except BaseException:
            result.cancel()  # the run's background task must not outlive the stream
            raise
        self._remember_response(thread, result.last_response_id, last_item, before_last)
        self.team.remember(thread, result.last_agent)
        if thread.title is None and input_user_message is not None:
            # Set last so the save rides on the end of the stream, not before the reply.
            thread.title = title_from(input_user_message)

    async def _model_input(
        self,
        thread: ThreadMetadata,
        message: UserMessageItem | None,
        context: RequestContext,
        mentions: Mapping[str, Mention],
    ) -> tuple[list[TResponseInputItem], str | None]:
        previous = thread.metadata.get(PREVIOUS_RESPONSE_ID)
        cursor = thread.metadata.get(RESPONSE_CURSOR)
        if self.model.chains_responses and previous and cursor:
            try:
                page = await self.store.load_thread_items(
                    thread.id, cursor, self.settings.history_max_items, "asc", context
                )
            except NotFoundError:  # the cursor item was deleted (retry): send everything
                page = None
            if (
                page is not None
                and not page.has_more
                and (message is None or any(item.id == message.id for item in page.data))
            ):
                converter = BookThreadItemConverter(outputs_only=True, mentions=mentions)
                return await converter.to_agent_input(page.data), previous
        items, complete = await self._history(thread, message, context)
        # The SDK looks at the newest two items next: let it reuse what was just read.
        context.session.remember(thread.id, items[::-1], complete)
        return await BookThreadItemConverter(mentions=mentions).to_agent_input(items), None

    async def _history(
        self, thread: ThreadMetadata, message: UserMessageItem | None, context: RequestContext
    ) -> tuple[list[ThreadItem], bool]:
        limits = self.settings.history_max_items, self.settings.history_max_tokens
        submission = context.submission
        if message is not None and submission is not None:
            if submission.new_thread:
                return [message], True
            page = await submission.history()
            if page is not None:
                # Read while the SDK saved `message`: it may or may not be on the page.
                newest = [message, *(item for item in page.data if item.id != message.id)]
                complete = not page.has_more
                return await select_history(newest, complete, *limits), complete
        return await load_history(
            self.store, thread.id, context, max_items=limits[0], max_tokens=limits[1]
        )

    def _remember_response(
        self,
        thread: ThreadMetadata,
        response_id: str | None,
        last: ThreadItem | None,
        before_last: ThreadItem | None,
    ) -> None:
        # A pending client tool call is answered in the next request: the response
        # holds the call, so the cursor stays before it and its output is sent next.
        cursor = before_last if isinstance(last, ClientToolCallItem) else last
        if self.model.chains_responses and response_id and cursor is not None:
            thread.metadata[PREVIOUS_RESPONSE_ID] = response_id
            thread.metadata[RESPONSE_CURSOR] = cursor.id
        else:
            thread.metadata.pop(PREVIOUS_RESPONSE_ID, None)
            thread.metadata.pop(RESPONSE_CURSOR, None)

    # -- cancellation ----------------------------------------------------------

    async def handle_stream_cancelled(
        self,
        thread: ThreadMetadata,
        pending_items: list[ThreadItem],
        context: RequestContext,
    ) -> None:
        """Save the partial reply and a note that it was cancelled, shielded from the
        disconnect that caused this (see `finish_shielded`)."""

        async def persist() -> None:
            for item in pending_items:
                if isinstance(item, AssistantMessageItem) and any(
                    part.text.strip() for part in item.content
                ):
                    await self.store.add_thread_item(thread.id, item, context=context)
            await self.store.add_thread_item(
                thread.id,
                SDKHiddenContextItem(
                    thread_id=thread.id,
                    created_at=datetime.now(),
                    id=self.store.generate_item_id("sdk_hidden_context", thread, context),
                    content="The user cancelled the stream. Stop responding to the prior request.",
                ),
                context=context,
            )
            thread.title = thread.title or await self._first_title(thread, context)
            # The stored response does not contain the partial reply: start a new chain.
            thread.metadata.pop(PREVIOUS_RESPONSE_ID, None)
            thread.metadata.pop(RESPONSE_CURSOR, None)
            await self.store.save_thread(thread, context=context)

        await finish_shielded(persist(), self.settings.cancel_persist_timeout_s)

    async def _first_title(self, thread: ThreadMetadata, context: RequestContext) -> str | None:
        """A title for an untitled thread: from its first message, as its first reply
        would have given it at its end."""
        first = await self.store.load_thread_items(thread.id, None, 1, "asc", context)
        message = next(iter(first.data), None)
        return title_from(message) if isinstance(message, UserMessageItem) else None

    # -- widget actions ----------------------------------------------------------

    async def action(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        if is_quiz_action(action):
            async for event in answer_quiz(
                thread,
                action,
                sender,
                lambda kind: self.store.generate_item_id(kind, thread, context),
            ):
                yield event
            return
        if action.type != MORE_ACTION:
            raise ValueError(f"Unknown action {action.type!r}.")
        try:
            more = parse_more(action)
        except ValidationError as exc:
            raise ValueError(f"Malformed {MORE_ACTION} payload: {exc.errors()[0]['msg']}") from None
        if sender is not None:
            yield ThreadItemReplacedEvent(
                item=sender.model_copy(update={"widget": with_buttons_disabled(sender.widget)})
            )
        async for event in self._more_sources(thread, more, context):
            yield event

    async def _more_sources(
        self, thread: ThreadMetadata, more: MorePayload, context: RequestContext
    ) -> AsyncIterator[ThreadStreamEvent]:
        page = context.page_context.model_copy(update={"current_chapter": more.chapter})
        scope = effective_scope("current_chapter", page)
        label = f"chapter {more.chapter}" if scope == "current_chapter" else "the book"
        yield ProgressUpdateEvent(icon="search", text=f"Looking for more in {label}…")
        top_k = min(self.settings.search_top_k + len(more.shown), 50)
        try:
            response = await self.search.search(
                SearchRequest(
                    queries=[more.query],
                    scope=scope,
                    page_context=page,
                    top_k=top_k,
                    corpus=self.settings.corpus,
                )
            )
        except Exception as exc:
            logger.warning("book search for more sources failed: %r", exc)
            yield _assistant_note(
                thread,
                self.store,
                context,
                "I couldn't search the book just now; try again shortly.",
            )
            return
        fresh = [hit for hit in response.results if hit.chunk_id not in more.shown]
        fresh = fresh[: self.settings.search_top_k]
        if not fresh:
            yield _assistant_note(
                thread, self.store, context, f"There is nothing more about this in {label}."
            )
            return
        numbered = list(enumerate(fresh, start=1))
        title = f"More from {label}"
        async for event in stream_widget(
            thread,
            sources_card(numbered, title=title),
            copy_text(numbered),
            lambda kind: self.store.generate_item_id(kind, thread, context),
        ):
            yield event

    # -- retry ---------------------------------------------------------------------

    async def check_retry(
        self, params: ThreadRetryAfterItemParams, context: RequestContext
    ) -> UserMessageItem:
        """The user message a retry answers again: 404 for an unknown item after one
        lookup (the SDK would page through the whole thread looking for it), 400 for an
        item that is not a user message."""
        item = await self.store.load_item(params.thread_id, params.item_id, context)
        if not isinstance(item, UserMessageItem):
            raise Refused(f"Item {params.item_id} is not a user message.")
        return item

    # -- feedback ----------------------------------------------------------------

    async def add_feedback(
        self,
        thread_id: str,
        item_ids: list[str],
        feedback: FeedbackKind,
        context: RequestContext,
    ) -> None:
        """Record feedback on items of a thread in the thread's metadata (404 for an
        unknown thread or item, the items checked in one store call)."""
        item_ids = distinct_ids(item_ids, "item ids")
        thread = await self.store.load_thread(thread_id, context=context)
        missing = await self.store.missing_item(thread_id, item_ids, context)
        if missing is not None:
            raise NotFoundError(f"Item {missing} not found in thread {thread_id}.")
        recorded = dict(thread.metadata.get(FEEDBACK) or {})
        recorded.update(dict.fromkeys(item_ids, feedback))
        thread.metadata[FEEDBACK] = recorded
        await self.store.save_thread(thread, context=context)


def _assistant_note(
    thread: ThreadMetadata, store: Store[Any], context: RequestContext, text: str
) -> ThreadItemDoneEvent:
    return ThreadItemDoneEvent(
        item=AssistantMessageItem(
            id=store.generate_item_id("message", thread, context),
            thread_id=thread.id,
            created_at=datetime.now(),
            content=[AssistantMessageContent(text=text)],
        )
    )
