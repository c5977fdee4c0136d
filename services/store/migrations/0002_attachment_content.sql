-- The bytes of uploaded attachments, beside their metadata. Kept in PostgreSQL
-- for the embedded default; an object store can take this table's place later.
CREATE TABLE attachment_content (
    user_id      text        NOT NULL,
    id           text        NOT NULL,
    content_type text        NOT NULL,
    size         bigint      NOT NULL,
    bytes        bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, id),
    FOREIGN KEY (user_id, id) REFERENCES attachments (user_id, id) ON DELETE CASCADE
);
