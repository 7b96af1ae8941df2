//! The audit log (`mtproto_audit_log`): the collector writes a run's start, progress and end,
//! and the operator derives `.status` from them.
//!
//! Event names and metadata keys are those of the system this project replaces, so existing
//! dashboards keep working; every row also carries the run id, the collection's
//! namespace/name, the pod and the shard, which that system lacked.

mod event;
mod notify;
mod past_runs;
mod retention;
mod store;

pub use event::{
    AuditEvent, ChannelError, ChannelProgress, CollectionEnd, CollectionProgress, CollectionStart,
    EndReason, ErrorReason, FloodWait, ParseEventError,
};
pub use notify::{NOTIFY_CHANNEL, notified_collection};
pub use past_runs::{
    MAX_ENDS_PER_RUN, PastRun, PastRunLimits, PastRunsError, recent_finished_runs,
};
pub use retention::{RetentionError, RetentionPass, RetentionPolicy, kept_runs};
pub use store::{AuditLogError, AuditRow, AuditWriter, RunIdentity, read_run, read_run_after};
