-- Attachments uploaded but never sent in a message (no thread yet), oldest first: what the
-- sweep (`ChatKitRepository.delete_unsent_attachments`) reads.
CREATE INDEX attachments_unsent ON attachments (created_at) WHERE thread_id IS NULL;
