"""Duplicate-safe message submission keyed by the `Idempotency-Key` header.

A keyed `threads.create` / `threads.add_user_message` gets ids derived from the user
and the key, so a resubmission can be recognised (the message already exists) and a
concurrent duplicate collides in the store instead of adding a second message.
`ChatStore` hands the ids out; `replay.py` answers the duplicates.
"""

from __future__ import annotations

import hashlib


def keyed_ids(user_id: str, key: str) -> tuple[str, str]:
    """(thread id, user message id) for an idempotency key of a user."""
    digest = hashlib.sha256(f"{user_id}\x00{key}".encode()).hexdigest()[:24]
    return f"thr_k{digest}", f"msg_k{digest}"
