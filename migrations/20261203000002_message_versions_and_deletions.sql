-- Nothing Telegram once showed is lost: every version of a message the collector or an import
-- has seen, messages Telegram no longer returns, and which title is the newest.
-- New nullable columns (no default) rewrite no row; the new table starts empty.

-- The versions a `messages` row no longer holds: written by the page statement when a
-- newer version supersedes the stored one, or when an older version arrives that differs
-- from what is stored (an import of an older export). With the `messages` row itself, every
-- version seen (docs/collector.md, "Versions and deletions").
CREATE TABLE IF NOT EXISTS message_versions (
    channel_id   BIGINT NOT NULL,
    message_id   BIGINT NOT NULL,
    -- When the source saw this version, and which source (collect or import; NULL for a row
    -- stored before sources were recorded).
    observed_at  TIMESTAMPTZ NOT NULL,
    source       TEXT,
    edit_date    TIMESTAMPTZ,
    text         TEXT NOT NULL,
    entities     JSONB,
    post_author  TEXT,
    media_kind   TEXT,
    media        JSONB,
    -- md5 of the version's content: the same version seen twice at the same time (an export
    -- imported again) is kept once.
    content_md5  UUID NOT NULL,
    PRIMARY KEY (channel_id, message_id, observed_at, content_md5)
);

ALTER TABLE messages
    -- When a read first found the message gone (the refresh window's re-read, or a sweep of
    -- stored ids); NULL while Telegram returns it. Rows are never removed.
    ADD COLUMN IF NOT EXISTS deleted_at TIMESTAMPTZ;

-- "Everything deleted in a channel" without reading the channel's live rows.
CREATE INDEX IF NOT EXISTS messages_deleted_idx
    ON messages (channel_id, deleted_at)
    WHERE deleted_at IS NOT NULL;

ALTER TABLE channels
    -- When the stored title was seen: an older export does not revert a newer title.
    ADD COLUMN IF NOT EXISTS title_observed_at TIMESTAMPTZ;
