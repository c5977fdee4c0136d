"""The single-process baseline of the chat benchmark: the same chat app and agent, with an
in-memory store and the retrieval search code called in process (no HTTP between them)."""
