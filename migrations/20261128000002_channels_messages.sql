-- What the collector stores: the channels it knows (with the access hash that spares a
-- rate-limited username resolve on every run) and their messages, one row per
-- (channel, message) so reruns and edits update in place instead of duplicating.

CREATE TABLE IF NOT EXISTS channels (
    -- Telegram's bare channel id (no -100 prefix).
    id                BIGINT PRIMARY KEY,
    -- Proof of access bound to our session; NULL for channels known only from an export.
    access_hash       BIGINT,
    -- Lowercase, without '@'; NULL for channels without a public username.
    username          TEXT,
    title             TEXT,
    -- Highest message id collected so far (moved in the same transaction as the messages),
    -- so the next run asks only for newer ones.
    checkpoint        BIGINT NOT NULL DEFAULT 0,
    last_collected_at TIMESTAMPTZ,
    CONSTRAINT channels_username_lowercase CHECK (username = lower(username))
);

-- A username names one channel at a time; usernames can move between channels.
CREATE UNIQUE INDEX IF NOT EXISTS channels_username_key
    ON channels (username)
    WHERE username IS NOT NULL;

CREATE TABLE IF NOT EXISTS messages (
    channel_id          BIGINT NOT NULL REFERENCES channels (id),
    message_id          BIGINT NOT NULL,
    date                TIMESTAMPTZ NOT NULL,
    edit_date           TIMESTAMPTZ,
    text                TEXT NOT NULL DEFAULT '',
    views               INTEGER,
    forwards            INTEGER,
    replies             INTEGER,
    post_author         TEXT,
    grouped_id          BIGINT,
    reply_to_message_id BIGINT,
    -- Where a forwarded message came from: {from_id, from_name, date, channel_post, post_author}.
    forward             JSONB,
    -- photo, document, webpage, geo, poll, ...; NULL for text-only messages.
    media_kind          TEXT,
    media               JSONB,
    -- [{"type": "emoji", "emoji": "..", "count": n} | {"type": "custom_emoji",
    --   "document_id": "<id as a string>", "count": n} | {"type": "paid", "count": n}]
    reactions           JSONB,
    collected_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_id, message_id)
);

-- Time-range queries per channel (dashboards, exports).
CREATE INDEX IF NOT EXISTS messages_channel_date_idx ON messages (channel_id, date);
