"""The store service: ChatKit threads, items and attachments in PostgreSQL, per user."""
