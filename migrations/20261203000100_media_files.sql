-- Media files downloaded into object storage (spec.media), stored once per destination by
-- content, and the messages that carry them.

-- One stored file: its bytes are at `content_key` in `destination`, named by their sha256.
CREATE TABLE IF NOT EXISTS media_files (
    id          BIGSERIAL PRIMARY KEY,
    -- Which store holds it: `s3://<bucket>/<prefix>` or `directory:<path>`.
    destination TEXT NOT NULL,
    -- The object's key in the destination: `<prefix>sha256/<first 2 hex>/<other 62 hex>`.
    content_key TEXT NOT NULL,
    sha256      BYTEA NOT NULL CHECK (octet_length(sha256) = 32),
    size        BIGINT NOT NULL CHECK (size >= 0),
    mime_type   TEXT,
    -- photo, video, document, audio, voice, sticker or animation (as first downloaded).
    kind        TEXT NOT NULL,
    stored_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (destination, sha256)
);

-- Telegram's id of a file's content (`photo:<id>`, `document:<id>`): a file met again under
-- a known key is linked without downloading it. Several keys may name the same bytes.
CREATE TABLE IF NOT EXISTS media_telegram_keys (
    destination  TEXT NOT NULL,
    telegram_key TEXT NOT NULL,
    file_id      BIGINT NOT NULL REFERENCES media_files (id),
    PRIMARY KEY (destination, telegram_key)
);

-- The wanted file a message carries: recorded when the message is stored, linked to
-- `media_files` once stored. A row whose `file_id` is NULL is still to download (a killed or
-- failed download, a file over a run's byte budget or too big); `unavailable_at` is set when
-- re-reading the message no longer found the file (deleted), which ends the retries.
CREATE TABLE IF NOT EXISTS message_files (
    channel_id     BIGINT NOT NULL,
    message_id     BIGINT NOT NULL,
    kind           TEXT NOT NULL,
    telegram_key   TEXT NOT NULL,
    size           BIGINT NOT NULL CHECK (size >= 0),
    file_id        BIGINT REFERENCES media_files (id),
    seen_at        TIMESTAMPTZ NOT NULL,
    linked_at      TIMESTAMPTZ,
    unavailable_at TIMESTAMPTZ,
    PRIMARY KEY (channel_id, message_id)
);

-- The next run's look-up of what is left to download, per channel.
CREATE INDEX IF NOT EXISTS message_files_pending_idx
    ON message_files (channel_id, message_id)
    WHERE file_id IS NULL AND unavailable_at IS NULL;

-- Which messages carry a stored file.
CREATE INDEX IF NOT EXISTS message_files_file_idx ON message_files (file_id);
