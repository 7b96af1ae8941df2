-- Sharded runs (several accounts per collection, one Indexed Job): the Job completion index of
-- the pod that wrote the row. NULL for unsharded runs and rows of older collectors.
ALTER TABLE mtproto_audit_log
    ADD COLUMN IF NOT EXISTS shard_index INTEGER;
