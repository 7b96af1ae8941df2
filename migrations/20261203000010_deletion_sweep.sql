-- The periodic sweep of a channel's stored ids (`spec.limits.deletionSweep`): re-reading every
-- stored message, 100 ids a request, finds deletions the refresh window never reaches. A pass
-- spans several runs; these say where it stands. New nullable columns rewrite no row.
ALTER TABLE channels
    -- The last id a pass in progress has re-read; NULL when no pass is under way.
    ADD COLUMN IF NOT EXISTS sweep_after BIGINT,
    -- When the last full pass ended; the next one starts a sweep interval later.
    ADD COLUMN IF NOT EXISTS swept_at TIMESTAMPTZ;
