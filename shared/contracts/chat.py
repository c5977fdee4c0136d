"""Contract of the chat service: the ChatKit protocol on `POST /chatkit`, plus reader context.

The body is any ChatKit request (`chatkit.types.ChatKitReq`). The caller (the
gateway) sets the user in the `X-User-ID` header and the reader's context in the
request's `metadata` under the keys below; streaming requests answer with
`text/event-stream`, the others with JSON.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.contracts.common import PageContext

CHATKIT_PATH = "/chatkit"
"""Where the chat service speaks the ChatKit protocol."""

IDEMPOTENCY_KEY_HEADER = "idempotency-key"
"""Client-chosen key making a resubmitted message a no-op (forwarded by the gateway)."""

RESUMABLE_HEADER = "x-chatkit-resumable"
"""`1` on a streaming request: the answer survives a dropped connection for a grace
period and can be resumed (`STREAM_PATH`); stop it explicitly (`STOP_PATH`). Without it a
dropped connection cancels the answer at once, which is how ChatKit clients stop."""

STREAM_PATH = "/chatkit/streams/{thread_id}"
"""`GET`: the resumable answer running (or just finished) on a thread, as SSE. With a
`Last-Event-ID` header, only the events after that one; without, from its start. 204
when there is none to resume (read the thread instead)."""

STOP_PATH = "/chatkit/streams/{thread_id}/stop"
"""`POST`: stop the resumable answer running on a thread now (its partial reply is saved)."""

MAX_SELECTED_TEXT = 4000
"""Longest selected text passed on to the model."""


class ReaderContext(BaseModel):
    """What the reader is looking at, carried in a ChatKit request's `metadata`."""

    model_config = ConfigDict(extra="ignore")

    page_context: PageContext = Field(default_factory=PageContext)
    """Chapter, lesson and page the reader has open."""
    selected_text: Annotated[str, StringConstraints(max_length=MAX_SELECTED_TEXT)] | None = None
    """Text the reader selected in the book, if any."""


class StopResult(BaseModel):
    """The answer to a stop request."""

    stopped: bool
    """Whether an answer was running on the thread (it is stopped now)."""
