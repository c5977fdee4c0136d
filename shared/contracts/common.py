"""Pieces every contract uses: identity headers and id limits."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

USER_ID_HEADER = "x-user-id"
"""Header with the authenticated user id on internal calls (set by the caller, not the body)."""
USER_ASSERTION_HEADER = "x-user-assertion"
"""Header with the gateway's signed statement of that user id (`shared/assertions.py`), on
every internal call that acts for a user when assertion keys are configured."""

MAX_ID_LENGTH = 255
"""Longest id (thread, item, attachment, user) any service accepts."""

Id = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=r"^[^\x00]*$")
]
"""A non-empty identifier of at most `MAX_ID_LENGTH` characters, without NUL (unstorable)."""


def is_id(value: str) -> bool:
    """Whether `value` can be an `Id` (one that cannot names no record)."""
    return 0 < len(value) <= MAX_ID_LENGTH and "\x00" not in value


class PageContext(BaseModel):
    """Where the reader is in the book; any part may be unknown."""

    model_config = ConfigDict(extra="forbid")

    current_chapter: int | None = Field(default=None, ge=0, le=100_000)
    """Number of the chapter the reader has open."""
    current_lesson: Annotated[str, StringConstraints(max_length=MAX_ID_LENGTH)] | None = None
    """Slug of the lesson (section) the reader has open."""
    current_page: Annotated[str, StringConstraints(max_length=1024)] | None = None
    """Page the reader has open: its document id or path in the book."""
