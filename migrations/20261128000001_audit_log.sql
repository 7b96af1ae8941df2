-- The audit log the collector writes and the operator reads.
-- Same table, columns and metadata keys as the seed, so an existing table is adopted in place;
-- run_id, the collection and the pod are new, and make "all rows of run X" an index lookup.
CREATE TABLE IF NOT EXISTS mtproto_audit_log (
    id        BIGSERIAL PRIMARY KEY,
    user_id   BIGINT,
    action    TEXT NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL DEFAULT now(),
    metadata  JSONB NOT NULL DEFAULT '{}'::jsonb
);

ALTER TABLE mtproto_audit_log
    ADD COLUMN IF NOT EXISTS run_id TEXT,
    ADD COLUMN IF NOT EXISTS collection_namespace TEXT,
    ADD COLUMN IF NOT EXISTS collection_name TEXT,
    ADD COLUMN IF NOT EXISTS pod_name TEXT;

CREATE INDEX IF NOT EXISTS mtproto_audit_log_run_idx
    ON mtproto_audit_log (run_id, id)
    WHERE run_id IS NOT NULL;

-- Previous runs of one collection (per-channel durations for the ETA).
CREATE INDEX IF NOT EXISTS mtproto_audit_log_collection_idx
    ON mtproto_audit_log (collection_namespace, collection_name, id)
    WHERE run_id IS NOT NULL;
