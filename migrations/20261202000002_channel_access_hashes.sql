-- Issue 12: Telegram binds a channel's access hash to the account that resolved it, and a
-- sharded run collects with several accounts. Hashes are kept per (account, channel); the
-- account is the session's Telegram user id (stable, not a secret; never the session blob).
-- account_id 0 means "unknown account": the hashes cached before this migration, tried only by
-- an account that has none of its own for the channel, and replaced by its own once it has one.

CREATE TABLE IF NOT EXISTS channel_access_hashes (
    account_id  BIGINT NOT NULL,
    channel_id  BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    access_hash BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, channel_id)
);

INSERT INTO channel_access_hashes (account_id, channel_id, access_hash)
SELECT 0, id, access_hash
  FROM channels
 WHERE access_hash IS NOT NULL
    ON CONFLICT (account_id, channel_id) DO NOTHING;

-- Kept (a collector of an earlier version still reads it after a rollback) but no longer
-- written or read by this one.
COMMENT ON COLUMN channels.access_hash IS
    'Superseded by channel_access_hashes (migration 20261202000002); not maintained.';
