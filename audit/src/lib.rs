//! The audit-log contract between the collector (which writes it) and the operator
//! (which derives `.status` from it).
//!
//! Event names and metadata keys are the seed's (`mtproto_audit_log`), so existing
//! dashboards keep working; every row also carries the run id, the collection's
//! namespace/name and the pod, which the seed lacked.
//!
//! [`contract`] is the rest of what the two binaries agree on: the Job's env, the session's
//! path and the collector's exit codes.

pub mod contract;
mod event;
mod history;
mod retention;
mod store;

pub use event::{
    AuditEvent, ChannelError, ChannelProgress, CollectionEnd, CollectionProgress, CollectionStart,
    EndReason, ErrorReason, FloodWait, ParseEventError,
};
pub use history::{HistoryError, HistoryLimits, MAX_ENDS_PER_RUN, PastRun, recent_finished_runs};
pub use retention::{RetentionError, RetentionPass, RetentionPolicy, kept_runs};
pub use store::{AuditRow, AuditWriter, RunIdentity, StoreError, read_run};

/// The one schema both binaries use (`migrations/` at the workspace root).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
