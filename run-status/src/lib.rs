//! Live status of a `ChannelCollection` run, derived from its Job and its audit-log rows.
//!
//! The core is pure: [`derive()`] maps (the collection, the run it follows: its Job's phase,
//! audit rows and per-channel history, `now`) to a [`DerivedStatus`]: progress, ETA, current
//! channel, flood waits, recent errors, and the run's summary once it is over. The operator's
//! `status` module is the one place that turns it (with the Jobs and the schedule) into
//! `.status`. Around it: [`reader`] (the two indexed queries an active run needs) and
//! [`job::phase`] (the one reading of a Job's phase both crates use).
//!
//! Fixes over the seed: audit rows are matched to runs by run id (never by timestamps); a run
//! is collecting only once its collector wrote `collection_start` and while its Job is active;
//! a Job that failed, hit its deadline or was deleted without `collection_end` becomes a failed
//! run with a reason; retried pods each start an attempt and status follows the newest; the
//! ETA costs each channel by what is known about it (see [`eta`]); flood waits show as
//! `Waiting` with their end; future times are only ever written to string fields.
//!
//! The ETA in the status is rounded ([`eta::quantize`]) so that a run counting down between two
//! audit rows does not need a patch at every refresh, nor a reconcile triggered by the
//! operator's own status patch.

pub mod eta;
pub mod flood;
pub mod history;
pub mod job;
pub mod reader;
pub mod runlog;
pub use crds::time;

mod derive;
mod shards;

pub use derive::{
    ABORTED, AuditInput, DerivedStatus, ProgressUnavailable, SESSION_INVALID, TrackedRun, derive,
};
pub use history::ChannelHistory;
pub use job::{JOB_DELETED, JobPhase, ShardPlan};
pub use reader::{AuditSnapshot, ReadError};
