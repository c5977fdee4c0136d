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

MAX_SELECTED_TEXT = 4000
"""Longest selected text passed on to the model."""


class ReaderContext(BaseModel):
    """What the reader is looking at, carried in a ChatKit request's `metadata`."""

    model_config = ConfigDict(extra="ignore")

    page_context: PageContext = Field(default_factory=PageContext)
    """Chapter, lesson and page the reader has open."""
    selected_text: Annotated[str, StringConstraints(max_length=MAX_SELECTED_TEXT)] | None = None
    """Text the reader selected in the book, if any."""
