"""What the chat service can fail with; `app.py` maps each to its HTTP status.

Besides these, a missing thread, item or attachment is the SDK's
`chatkit.store.NotFoundError`, and a failed call to the store or retrieval service is a
`shared.http.UpstreamError`: the app's error table maps those too.
"""

from __future__ import annotations

from shared.contracts.store import QUOTA_EXCEEDED
from shared.errors import DomainError


class ChatError(DomainError):
    """Base of the chat service's errors: the request cannot be served as asked."""


class Refused(ChatError):
    """The ChatKit SDK refused the request for the state of the thread: a client tool
    output with no pending call, a retry after an item that is not a user message, ..."""


class NotSupported(ChatError):
    """A ChatKit request this service does not implement (`input.transcribe` without a
    speech model, `threads.sync_custom_action`)."""

    code = "not_supported"


class AttachmentsUnavailable(ChatError):
    """An upload was asked for on a call that did not come through the gateway."""


class QuotaExceeded(ChatError):
    """The store keeps as many threads, items in the thread or attachment bytes of the
    user as it may (403): deleting makes room, retrying alone does not."""

    code = QUOTA_EXCEEDED


class RecordTooLarge(ChatError):
    """A thread, item or attachment record larger than the store keeps (413)."""


class UnknownMention(ChatError):
    """A message @-mentions something that is not a chapter or page of the corpus, or more
    things than one message may (422)."""

    code = "unknown_mention"
