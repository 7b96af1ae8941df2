//! Every audit row of a collection is announced by PostgreSQL itself (a trigger, in the
//! migrations): `NOTIFY mtproto_audit_log, '<namespace>/<name>'`. Whoever writes a row needs
//! to do nothing; whoever derives status from the rows listens instead of polling.

/// The channel the audit log's rows are announced on.
pub const NOTIFY_CHANNEL: &str = "mtproto_audit_log";

/// The collection (namespace, name) a notification's payload names; `None` for a payload
/// this version does not understand. Kubernetes names hold no `/`, so the split is exact.
pub fn notified_collection(payload: &str) -> Option<(&str, &str)> {
    let (namespace, name) = payload.split_once('/')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains('/')).then_some((namespace, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_names_one_collection() {
        assert_eq!(
            notified_collection("telegram/news"),
            Some(("telegram", "news"))
        );
        for payload in ["", "news", "/news", "telegram/", "a/b/c"] {
            assert_eq!(notified_collection(payload), None, "{payload}");
        }
    }
}
