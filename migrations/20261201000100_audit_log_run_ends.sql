-- no-transaction
-- Each collection's latest run ends, newest first, without reading its other rows: audit-log
-- retention keeps the runs the ETA history reads (audit/src/retention.rs), and finding them must
-- not cost a scan of a collection whose recent rows hold no end. One small entry per run attempt.
-- CONCURRENTLY (hence no transaction): building it on a large existing table must not block the
-- collectors' inserts.
CREATE INDEX CONCURRENTLY IF NOT EXISTS mtproto_audit_log_collection_end_idx
    ON mtproto_audit_log (collection_namespace, collection_name, id)
    WHERE action = 'collection_end' AND run_id IS NOT NULL;
