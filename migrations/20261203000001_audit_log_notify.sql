-- Every audit row of a collection announces itself on the channel `mtproto_audit_log` with
-- the payload `<namespace>/<name>`, so the operator refreshes that collection's status when
-- its collector writes instead of polling every active run. A listener that misses
-- notifications (a dropped connection, a restart) catches up from the rows themselves.
CREATE OR REPLACE FUNCTION mtproto_audit_log_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.collection_namespace IS NOT NULL AND NEW.collection_name IS NOT NULL THEN
        PERFORM pg_notify(
            'mtproto_audit_log',
            NEW.collection_namespace || '/' || NEW.collection_name
        );
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS mtproto_audit_log_notify ON mtproto_audit_log;
CREATE TRIGGER mtproto_audit_log_notify
    AFTER INSERT ON mtproto_audit_log
    FOR EACH ROW EXECUTE FUNCTION mtproto_audit_log_notify();
