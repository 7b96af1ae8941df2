-- Issue 9: what a message row keeps beyond its text, and which version of it a row holds.
-- Every column is new and nullable (no default), so adding them rewrites no row; rows stored
-- before this migration read as "source unknown", the oldest version of any edit.

ALTER TABLE messages
    -- [{"type": "text_link", "offset": 0, "length": 4, "href": "https://…"}, …]: Telegram's
    -- formatting and links, offsets and lengths in UTF-16 code units of `text` as Telegram
    -- counts them. NULL for unformatted text.
    ADD COLUMN IF NOT EXISTS entities JSONB,
    -- The sender as a typed peer ({"type": "user", "id": 5}) and its display name; NULL when
    -- the source does not say (channel posts collected live have no sender but the channel).
    ADD COLUMN IF NOT EXISTS from_id JSONB,
    ADD COLUMN IF NOT EXISTS from_name TEXT,
    -- A reply to a message of ANOTHER chat: {"peer": {"type": "channel", "id": 777},
    -- "message_id": 12}. reply_to_message_id only ever names a message of this channel.
    ADD COLUMN IF NOT EXISTS reply_to_other_chat JSONB,
    -- Service messages (pins, title changes, joins, ...): the action in Telegram Desktop's
    -- export vocabulary (pin_message, edit_group_title, ...) and its details. NULL for posts.
    ADD COLUMN IF NOT EXISTS action TEXT,
    ADD COLUMN IF NOT EXISTS action_data JSONB,
    -- Which source wrote the version this row holds (collect: a live read; import: a Telegram
    -- Desktop export) and when that source saw it. Together with edit_date they decide which
    -- of two versions of a message is newer (docs/collector.md, "One merge rule").
    ADD COLUMN IF NOT EXISTS source TEXT,
    ADD COLUMN IF NOT EXISTS observed_at TIMESTAMPTZ;

-- NOT VALID: every existing row has source NULL, so there is nothing to check, and no scan.
ALTER TABLE messages
    ADD CONSTRAINT messages_source_known CHECK (source IN ('collect', 'import')) NOT VALID;

-- The counters a message had before a newer version changed them (a refresh, a later
-- export): with the current row in `messages`, the growth of views, forwards, replies and
-- reactions over time. Written only when a counter changes; see docs/collector.md for the
-- cost.
CREATE TABLE IF NOT EXISTS message_stats (
    channel_id  BIGINT NOT NULL,
    message_id  BIGINT NOT NULL,
    -- When the source saw these values.
    observed_at TIMESTAMPTZ NOT NULL,
    views       INTEGER,
    forwards    INTEGER,
    replies     INTEGER,
    reactions   JSONB,
    PRIMARY KEY (channel_id, message_id, observed_at)
);
