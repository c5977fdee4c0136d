-- Sizes and quotas, enforced where the rows are written, so that no path (and no race)
-- gets past them. The limits are settings of the connection, `chatkit.<name>`, which
-- the store sets from its own settings on every connection (`Database.open`); a
-- session without one (psql, a migration) is not held to it.
--
-- Refusals are errors with SQLSTATE CK001 (a record too large) or CK002 (a quota
-- reached); MESSAGE names the limit and DETAIL gives its value.

CREATE FUNCTION chatkit_limit(name text) RETURNS bigint
    LANGUAGE sql STABLE AS $$ SELECT NULLIF(current_setting('chatkit.' || name, true), '')::bigint $$;

-- The size of a record is that of the JSON the store serves (jsonb's text): pages are
-- bounded by the sum of these.
ALTER TABLE threads ADD COLUMN size integer NOT NULL DEFAULT 0;
ALTER TABLE thread_items ADD COLUMN size integer NOT NULL DEFAULT 0;
ALTER TABLE attachments ADD COLUMN size integer NOT NULL DEFAULT 0;
UPDATE threads SET size = octet_length(data::text);
UPDATE thread_items SET size = octet_length(data::text);
UPDATE attachments SET size = octet_length(data::text);

CREATE FUNCTION chatkit_sized() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cap bigint := chatkit_limit(TG_ARGV[0]);
BEGIN
    NEW.size := octet_length(NEW.data::text);
    IF NEW.size > cap THEN
        RAISE EXCEPTION USING ERRCODE = 'CK001', MESSAGE = TG_ARGV[0], DETAIL = cap::text;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER sized BEFORE INSERT OR UPDATE OF data ON thread_items
    FOR EACH ROW EXECUTE FUNCTION chatkit_sized('max_item_bytes');
CREATE TRIGGER sized BEFORE INSERT OR UPDATE OF data ON threads
    FOR EACH ROW EXECUTE FUNCTION chatkit_sized('max_metadata_bytes');
CREATE TRIGGER sized BEFORE INSERT OR UPDATE OF data ON attachments
    FOR EACH ROW EXECUTE FUNCTION chatkit_sized('max_metadata_bytes');

-- What each user keeps. Every change goes through the user's row, which locks it:
-- concurrent writers of one user take turns, and each sees the others' count.
CREATE TABLE user_usage (
    user_id          text   PRIMARY KEY,
    threads          bigint NOT NULL DEFAULT 0,
    attachment_bytes bigint NOT NULL DEFAULT 0
);
INSERT INTO user_usage (user_id, threads, attachment_bytes)
SELECT user_id, sum(threads), sum(bytes) FROM (
    SELECT user_id, count(*) AS threads, 0 AS bytes FROM threads GROUP BY user_id
    UNION ALL
    SELECT user_id, 0, sum(size) FROM attachment_content GROUP BY user_id
) AS kept
GROUP BY user_id;

-- Items per thread live on the thread's row, which every item write locks already
-- (it hands out the item's sequence number).
ALTER TABLE threads ADD COLUMN item_count integer NOT NULL DEFAULT 0;
UPDATE threads AS t SET item_count = c.n
FROM (SELECT user_id, thread_id, count(*) AS n FROM thread_items GROUP BY 1, 2) AS c
WHERE t.user_id = c.user_id AND t.id = c.thread_id;

-- Counted per statement (transition tables): only rows really inserted or deleted count,
-- so an upsert that updates, or an identical item added again, changes nothing.
CREATE FUNCTION chatkit_threads_added() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cap bigint := chatkit_limit('max_threads_per_user');
    most bigint;
BEGIN
    WITH counted AS (
        INSERT INTO user_usage AS u (user_id, threads)
        SELECT user_id, count(*) FROM added GROUP BY user_id
        ON CONFLICT (user_id) DO UPDATE SET threads = u.threads + EXCLUDED.threads
        RETURNING u.threads
    )
    SELECT max(threads) INTO most FROM counted;
    IF most > cap THEN
        RAISE EXCEPTION USING ERRCODE = 'CK002', MESSAGE = 'max_threads_per_user',
            DETAIL = cap::text;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION chatkit_threads_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE user_usage AS u SET threads = u.threads - g.n
    FROM (SELECT user_id, count(*) AS n FROM gone GROUP BY user_id) AS g
    WHERE u.user_id = g.user_id;
    RETURN NULL;
END $$;

CREATE TRIGGER counted_in AFTER INSERT ON threads REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION chatkit_threads_added();
CREATE TRIGGER counted_out AFTER DELETE ON threads REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION chatkit_threads_deleted();

-- A user message must leave `reply_items_reserved` items of room for its reply; the
-- reply's own items may use that room up to the cap.
CREATE FUNCTION chatkit_items_added() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cap bigint := chatkit_limit('max_items_per_thread');
    reserved bigint := coalesce(chatkit_limit('reply_items_reserved'), 0);
    over boolean;
BEGIN
    WITH counted AS (
        UPDATE threads AS t SET item_count = t.item_count + a.n
        FROM (
            SELECT user_id, thread_id, count(*) AS n, bool_or(type = 'user_message') AS asks
            FROM added GROUP BY 1, 2
        ) AS a
        WHERE t.user_id = a.user_id AND t.id = a.thread_id
        RETURNING t.item_count + CASE WHEN a.asks THEN reserved ELSE 0 END AS needed
    )
    SELECT bool_or(needed > cap) INTO over FROM counted;
    IF over THEN
        RAISE EXCEPTION USING ERRCODE = 'CK002', MESSAGE = 'max_items_per_thread',
            DETAIL = cap::text;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION chatkit_items_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- (a thread deleted with its items has no row left to update)
    UPDATE threads AS t SET item_count = t.item_count - g.n
    FROM (SELECT user_id, thread_id, count(*) AS n FROM gone GROUP BY 1, 2) AS g
    WHERE t.user_id = g.user_id AND t.id = g.thread_id;
    RETURN NULL;
END $$;

CREATE TRIGGER counted_in AFTER INSERT ON thread_items REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION chatkit_items_added();
CREATE TRIGGER counted_out AFTER DELETE ON thread_items REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION chatkit_items_deleted();

-- Attachment bytes: a replaced upload counts its new size instead of its old one. Only
-- growth is refused, so a user over a lowered quota may still delete and shrink.
CREATE FUNCTION chatkit_count_attachment_bytes(users text[], sizes bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    cap bigint := chatkit_limit('max_attachment_bytes_per_user');
    over boolean;
BEGIN
    WITH delta AS (
        SELECT user_id, sum(n) AS n FROM unnest(users, sizes) AS d (user_id, n) GROUP BY user_id
    ), counted AS (
        INSERT INTO user_usage AS u (user_id, attachment_bytes)
        SELECT user_id, n FROM delta
        ON CONFLICT (user_id)
            DO UPDATE SET attachment_bytes = u.attachment_bytes + EXCLUDED.attachment_bytes
        RETURNING u.user_id, u.attachment_bytes
    )
    SELECT bool_or(c.attachment_bytes > cap AND d.n > 0) INTO over
    FROM counted AS c JOIN delta AS d USING (user_id);
    IF over THEN
        RAISE EXCEPTION USING ERRCODE = 'CK002', MESSAGE = 'max_attachment_bytes_per_user',
            DETAIL = cap::text;
    END IF;
END $$;

CREATE FUNCTION chatkit_attachment_bytes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    users text[];
    sizes bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(user_id), array_agg(size) INTO users, sizes FROM added;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(user_id), array_agg(n) INTO users, sizes FROM (
            SELECT user_id, size AS n FROM added UNION ALL SELECT user_id, -size FROM replaced
        ) AS changed;
    ELSE
        SELECT array_agg(user_id), array_agg(-size) INTO users, sizes FROM gone;
    END IF;
    IF users IS NOT NULL THEN
        PERFORM chatkit_count_attachment_bytes(users, sizes);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER counted_in AFTER INSERT ON attachment_content REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION chatkit_attachment_bytes();
CREATE TRIGGER counted_change AFTER UPDATE ON attachment_content
    REFERENCING OLD TABLE AS replaced NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION chatkit_attachment_bytes();
CREATE TRIGGER counted_out AFTER DELETE ON attachment_content REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION chatkit_attachment_bytes();

-- Attachments go with the thread they were sent in (`ChatKitRepository.delete_thread`).
CREATE INDEX attachments_by_thread ON attachments (user_id, thread_id) WHERE thread_id IS NOT NULL;
