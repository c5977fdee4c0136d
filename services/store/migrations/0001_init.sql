-- ChatKit persistence. Models are stored whole in JSONB (as the ChatKit docs
-- advise) so SDK model changes need no migration; the other columns exist only
-- to query and order. Every key starts with the owner.

CREATE TABLE threads (
    user_id    text        NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255),
    id         text        NOT NULL CHECK (length(id) BETWEEN 1 AND 255),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- last sequence number handed to an item of this thread; bumping it locks
    -- the thread row, so items of one thread get increasing numbers in commit order
    item_seq   bigint      NOT NULL DEFAULT 0,
    data       jsonb       NOT NULL,
    PRIMARY KEY (user_id, id)
);

CREATE INDEX threads_by_created ON threads (user_id, created_at, id);

CREATE TABLE thread_items (
    user_id    text        NOT NULL,
    thread_id  text        NOT NULL,
    id         text        NOT NULL CHECK (length(id) BETWEEN 1 AND 255),
    seq        bigint      NOT NULL,
    type       text        NOT NULL,
    created_at timestamptz NOT NULL,
    data       jsonb       NOT NULL,
    PRIMARY KEY (user_id, thread_id, id),
    -- the keyset index every page is read through
    UNIQUE (user_id, thread_id, seq),
    FOREIGN KEY (user_id, thread_id) REFERENCES threads (user_id, id) ON DELETE CASCADE
);

CREATE TABLE attachments (
    user_id    text        NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255),
    id         text        NOT NULL CHECK (length(id) BETWEEN 1 AND 255),
    thread_id  text,
    mime_type  text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    data       jsonb       NOT NULL,
    PRIMARY KEY (user_id, id)
);
